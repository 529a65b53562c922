"""The parts of a session that use the phone's and the glasses' hardware for Apps beyond
the microphone and the display: location (`core.location`), camera streaming
(`core.streaming`) and translation (`core.translation`). Built once per session; each part
is registered with the router (subscription changes, App stops, glasses messages) and with
the App-message dispatch (the App messages it answers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glasscloud.core.app_messages import AppMessages
from glasscloud.core.apps import AppSlot
from glasscloud.core.context import SessionContext
from glasscloud.core.location import LocationControl
from glasscloud.core.parts import AppHandler, SessionPart
from glasscloud.core.router import Router
from glasscloud.core.streaming import RtmpStreams
from glasscloud.core.translation import TranslationHub
from glasscloud.protocol.errors import ProtocolError


class StreamParts:
    def __init__(self, ctx: SessionContext, router: Router, app_messages: AppMessages) -> None:
        # Set by the session: whether the user's glasses are connected now.
        self.glasses_connected: Callable[[], bool] = lambda: False
        connected = lambda: self.glasses_connected()  # noqa: E731 - set after construction
        self.location = LocationControl(ctx, router, connected)
        self.streams = RtmpStreams(ctx, router, connected)
        self.translation = TranslationHub(ctx, router)
        self.parts: tuple[SessionPart, ...] = (self.location, self.streams, self.translation)
        router.glasses_handlers["keep_alive_ack"] = lambda msg: self.streams.keep_alive_ack(msg.obj)
        for part in self.parts:
            router.parts.append(part)
            router.glasses_handlers.update(part.glasses_handlers)
            for kind, handler in part.app_handlers.items():
                app_messages.handlers[kind] = _answering(handler)

    def glasses_attached(self) -> None:
        for part in self.parts:
            part.glasses_attached()

    def glasses_gone(self) -> None:
        for part in self.parts:
            part.glasses_gone()


def _answering(handler: AppHandler) -> AppHandler:
    """A handler whose validation errors become its answer (an error frame to the App)."""

    def answer(slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        try:
            return handler(slot, obj)
        except ProtocolError as error:
            return error

    return answer
