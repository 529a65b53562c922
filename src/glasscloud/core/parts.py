"""A part of a session that hangs off the router: it hears about subscription changes, Apps
that stop and the end of the session, may refuse a subscription entry, sees every
transcription result, and may handle glasses message types itself. The router calls each
hook for every registered part (`Router.parts`); the defaults do nothing, so a part
overrides only what it needs. Location, camera streaming and translation are parts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glasscloud.core.apps import AppSlot
from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.glasses import GlassesMessage
from glasscloud.protocol.streams import Subscription

GlassesHandler = Callable[[GlassesMessage], None]
AppHandler = Callable[[AppSlot, dict[str, Any]], "ProtocolError | None"]


class SessionPart:
    # glasses message type -> handler; the router hands these over instead of routing them.
    glasses_handlers: dict[str, GlassesHandler] = {}
    # App message type -> handler; an error it returns goes to the App as an error frame.
    app_handlers: dict[str, AppHandler] = {}

    def refuse(self, slot: AppSlot, sub: Subscription) -> ProtocolError | None:
        """Why this subscription entry cannot be served (None: accept it)."""
        return None

    def wanted_languages(self) -> set[str]:
        """`transcription:<lang>` keys this part needs recognised."""
        return set()

    def subscriptions_changed(self) -> None: ...

    def transcription(self, data: dict[str, Any]) -> None: ...

    def app_removed(self, package_name: str) -> None: ...

    def glasses_attached(self) -> None: ...

    def glasses_gone(self) -> None: ...

    def dispose(self) -> None: ...
