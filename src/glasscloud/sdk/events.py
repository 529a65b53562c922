"""`session.events`: register handlers for the user's event streams.

The subscription list is derived from the registered handlers, as in the official SDK: the
first handler of a stream subscribes it, removing the last one unsubscribes it, and each
change sends the complete list (`subscription_update`). Deliveries are matched by exact
stream string (`transcription:fr-FR?hints=...` is a different stream from
`transcription:fr-FR`).

Every `on_...` works as a call (`events.on_button_press(handler)`) and as a decorator, bare
or with arguments (`@events.on_transcription(language="fr-FR")`); it returns a
`Registration` whose `remove()` unregisters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from glasscloud.protocol.streams import DEFAULT_LANGUAGE
from glasscloud.sdk import streams
from glasscloud.sdk.errors import SdkError
from glasscloud.sdk.models import (
    AudioChunk,
    Battery,
    ButtonPress,
    HeadPosition,
    Location,
    PhoneNotification,
    TouchEvent,
    Transcription,
    Translation,
    VoiceActivity,
)
from glasscloud.sdk.registry import Emit, Registration

T = TypeVar("T")
Handler = Callable[[T], Any]
Parser = Callable[[dict[str, Any]], Any]


def _identity(data: dict[str, Any]) -> Any:
    return data


class EventManager:
    def __init__(self, emit: Emit, on_subscriptions_changed: Callable[[], None]) -> None:
        self._emit = emit
        self._changed = on_subscriptions_changed
        self._streams: dict[str, list[tuple[Registration, Parser]]] = {}
        self._errors: list[Registration] = []
        # stream -> the rate its subscription entry carries (`location_stream` tiers)
        self.rates: dict[str, str] = {}

    # ---- bookkeeping -------------------------------------------------------------------

    @property
    def subscriptions(self) -> list[str]:
        """The streams with at least one handler, in the order they were first registered."""
        return list(self._streams)

    def entries(self) -> list[str | dict[str, str]]:
        """`subscriptions` as sent: a stream with a rate as `{"stream", "rate"}`."""
        return [
            {"stream": s, "rate": self.rates[s]} if s in self.rates else s
            for s in self._streams
        ]

    def on(
        self, stream: str, handler: Callable[[Any], Any], parse: Parser = _identity
    ) -> Registration:
        """Call `handler(parse(data))` for every `data_stream` of exactly `stream`."""
        stream = streams.checked(stream)
        registration = Registration(stream, handler, self._remove)
        entries = self._streams.get(stream)
        if entries is None:
            self._streams[stream] = [(registration, parse)]
            self._changed()
        else:
            entries.append((registration, parse))
        return registration

    def _remove(self, registration: Registration) -> None:
        entries = self._streams.get(registration.stream, [])
        entries[:] = [(r, p) for r, p in entries if r is not registration]
        if not entries and registration.stream in self._streams:
            del self._streams[registration.stream]
            self._changed()

    def _register(self, stream: str, parse: Parser, handler: Callable[[Any], Any] | None) -> Any:
        if handler is None:
            return lambda fn: self.on(stream, fn, parse)
        return self.on(stream, handler, parse)

    # ---- typed registrations -----------------------------------------------------------

    def on_transcription(
        self,
        handler: Handler[Transcription] | None = None,
        *,
        language: str = DEFAULT_LANGUAGE,
        hints: Sequence[str] = (),
        disable_language_identification: bool = False,
    ) -> Any:
        """Speech to text in `language` (e.g. `fr-FR`, or `auto`); `handler(Transcription)`."""
        stream = streams.transcription(
            language, hints=hints, disable_language_identification=disable_language_identification
        )
        return self._register(stream, Transcription.from_data, handler)

    def on_translation(
        self,
        source: str,
        target: str,
        handler: Handler[Translation] | None = None,
        *,
        disable_language_identification: bool = False,
    ) -> Any:
        """Speech in `source` (or `all`) translated to `target`; `handler(Translation)`."""
        stream = streams.translation(
            source, target, disable_language_identification=disable_language_identification
        )
        return self._register(stream, Translation.from_data, handler)

    def on_button_press(self, handler: Handler[ButtonPress] | None = None) -> Any:
        return self._register(streams.BUTTON_PRESS, ButtonPress.from_data, handler)

    def on_head_position(self, handler: Handler[HeadPosition] | None = None) -> Any:
        return self._register(streams.HEAD_POSITION, HeadPosition.from_data, handler)

    def on_phone_notification(self, handler: Handler[PhoneNotification] | None = None) -> Any:
        """Needs the READ_NOTIFICATIONS permission."""
        return self._register(streams.PHONE_NOTIFICATION, PhoneNotification.from_data, handler)

    def on_notification_dismissed(self, handler: Handler[PhoneNotification] | None = None) -> Any:
        return self._register(
            streams.PHONE_NOTIFICATION_DISMISSED, PhoneNotification.from_data, handler
        )

    def on_touch_event(
        self, handler: Handler[TouchEvent] | None = None, *, gesture: str | None = None
    ) -> Any:
        """Every touch gesture, or only `gesture` (e.g. `double_tap`)."""
        return self._register(streams.touch(gesture), TouchEvent.from_data, handler)

    def on_location(self, handler: Handler[Location] | None = None) -> Any:
        """Needs the LOCATION permission."""
        return self._register(streams.LOCATION_UPDATE, Location.from_data, handler)

    def on_glasses_battery(self, handler: Handler[Battery] | None = None) -> Any:
        return self._register(streams.GLASSES_BATTERY, Battery.from_data, handler)

    def on_phone_battery(self, handler: Handler[Battery] | None = None) -> Any:
        return self._register(streams.PHONE_BATTERY, Battery.from_data, handler)

    def on_voice_activity(self, handler: Handler[VoiceActivity] | None = None) -> Any:
        """VAD: whether the user is speaking. Needs MICROPHONE."""
        return self._register(streams.VAD, VoiceActivity.from_data, handler)

    def on_audio_chunk(self, handler: Handler[AudioChunk] | None = None) -> Any:
        """Raw microphone audio (`AudioChunk`: 16 kHz 16-bit mono PCM). Needs MICROPHONE."""
        return self._register(streams.AUDIO_CHUNK, _identity, handler)

    def on_error(self, handler: Handler[SdkError] | None = None) -> Any:
        """Errors the cloud reports after connecting (`CloudError`, `StreamPermissionError`).
        Subscribes nothing."""
        if handler is None:
            return self.on_error
        registration = Registration("error", handler, self._errors.remove)
        self._errors.append(registration)
        return registration

    # ---- delivery (called by the session) ----------------------------------------------

    def dispatch(self, stream_type: str, data: Any) -> bool:
        """Deliver one `data_stream`; False when nothing is registered for that string."""
        entries = self._streams.get(stream_type)
        if not entries or not isinstance(data, dict):
            return False
        for registration, parse in list(entries):
            self._emit(registration, parse(data))
        return True

    def dispatch_audio(self, data: bytes) -> bool:
        entries = self._streams.get(streams.AUDIO_CHUNK)
        if not entries or not data:
            return False
        chunk = AudioChunk(data)
        for registration, _ in list(entries):
            self._emit(registration, chunk)
        return True

    def dispatch_error(self, error: SdkError) -> bool:
        for registration in list(self._errors):
            self._emit(registration, error)
        return bool(self._errors)
