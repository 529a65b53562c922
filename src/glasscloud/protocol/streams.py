"""The stream-name grammar of `subscription_update`, and which permission each stream needs.

A subscription keeps two names: `raw`, exactly what the App sent (deliveries must echo it, the
SDK matches `streamType` by string equality), and `key`, the normalised name routing uses
(`transcription:fr-FR?hints=en` -> `transcription:fr-FR`; plain `transcription` ->
`transcription:en-US`, as the reference cloud rewrites it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.location import check_tier

WILDCARDS = frozenset({"*", "all"})

# Base stream names the SDK (2.1.29) and the reference cloud know.
BASE_STREAMS = frozenset(
    {
        "button_press",
        "head_position",
        "touch_event",
        "glasses_battery_update",
        "phone_battery_update",
        "glasses_connection_state",
        "location_update",
        "location_stream",
        "vps_coordinates",
        "transcription",
        "translation",
        "VAD",
        "audio_chunk",
        "phone_notification",
        "phone_notification_dismissed",
        "notification_dismissed",
        "calendar_event",
        "start_app",
        "stop_app",
        "open_dashboard",
        "core_status_update",
        "video",
        "photo_request",
        "photo_response",
        "photo_taken",
        "rtmp_stream_status",
        "managed_stream_status",
        "settings_update_request",
        "custom_message",
    }
)

TOUCH_GESTURES = frozenset(
    {
        "single_tap",
        "double_tap",
        "triple_tap",
        "long_press",
        "forward_swipe",
        "backward_swipe",
        "up_swipe",
        "down_swipe",
    }
)

LANGUAGE_RE = re.compile(r"^[a-z]{2,3}-[A-Z]{2}$")
DEFAULT_LANGUAGE = "en-US"

MICROPHONE = "MICROPHONE"
LOCATION = "LOCATION"
CALENDAR = "CALENDAR"
CAMERA = "CAMERA"
READ_NOTIFICATIONS = "READ_NOTIFICATIONS"
ALL = "ALL"

# The permission every stream needs before an App may receive it (None: anyone may), stated
# for every base name a subscription can carry and every type the glasses send (see
# protocol/glasses.py and the MentraOS phone's event list). A unit test keeps it
# complete. The reference cloud asked only for the first four groups.
STREAM_PERMISSIONS: Mapping[str, str | None] = MappingProxyType(
    {
        # speech and sound
        "audio_chunk": MICROPHONE,
        "transcription": MICROPHONE,
        "translation": MICROPHONE,
        "VAD": MICROPHONE,
        # where the user is
        "location_update": LOCATION,
        "location_stream": LOCATION,
        "vps_coordinates": LOCATION,
        # the user's calendar and notifications
        "calendar_event": CALENDAR,
        "phone_notification": READ_NOTIFICATIONS,
        "phone_notification_dismissed": READ_NOTIFICATIONS,
        "notification_dismissed": READ_NOTIFICATIONS,
        # what the camera sees
        "video": CAMERA,
        "photo_request": CAMERA,
        "photo_response": CAMERA,
        "photo_taken": CAMERA,
        "rtmp_stream_status": CAMERA,
        "managed_stream_status": CAMERA,
        # input and device state: no permission
        "button_press": None,
        "head_position": None,
        "touch_event": None,
        "glasses_battery_update": None,
        "phone_battery_update": None,
        "glasses_connection_state": None,
        "open_dashboard": None,
        "dashboard_state": None,
        "start_app": None,
        "stop_app": None,
        "core_status_update": None,
        "settings_update_request": None,
        "custom_message": None,
        "augmentos": None,  # augmentos:<setting> (the user's display settings)
    }
)

# A wildcard (`*`, `all`) subscription needs no permission itself; each stream delivered
# through it is checked against STREAM_PERMISSIONS (the reference cloud let `*` bypass them).
WILDCARD_PERMISSION: str | None = None

# A type the glasses send that is not in the table (`config`, `video_stream_response`,
# a future type) reaches wildcard subscribers only with `ALL`: unknown data is not assumed
# harmless.
UNKNOWN_STREAM_PERMISSION = ALL

MEDIA_BASES = frozenset({"audio_chunk", "transcription", "translation"})

# Glasses messages that answer one App's request (they carry its `requestId`): they go to
# the App that asked, never to subscribers, wildcards included (a `*` subscriber with no
# permissions used to receive every photo). No App can ask yet (photo and VPS requests are
# answered NOT_SUPPORTED), so today they reach nobody.
REQUEST_RESPONSES = frozenset({"photo_response", "vps_coordinates"})


@dataclass(frozen=True, slots=True)
class Subscription:
    raw: str
    key: str
    base: str
    rate: str | None = None  # the location tier a `{"stream", "rate"}` entry asks for

    @property
    def is_wildcard(self) -> bool:
        return self.key in WILDCARDS

    @property
    def required_permission(self) -> str | None:
        return required_permission(self.key)


def base_of(key: str) -> str:
    """`transcription:en-US` -> `transcription`; `button_press` -> `button_press`."""
    head, _, _ = key.partition(":")
    return head


def required_permission(key: str) -> str | None:
    """The permission a stream (a routing key or a glasses message type) needs; None for
    streams anyone may read. A wildcard needs none itself (each delivered stream is checked
    instead); a type this cloud does not know needs `ALL`."""
    if key in WILDCARDS:
        return WILDCARD_PERMISSION
    return STREAM_PERMISSIONS.get(base_of(key), UNKNOWN_STREAM_PERMISSION)


def is_response(stream_type: str) -> bool:
    """Whether this type answers one App's request: deliver it to the requester only,
    never to subscribers (by name or wildcard)."""
    return base_of(stream_type) in REQUEST_RESPONSES


def has_permission(granted: frozenset[str] | set[str], required: str | None) -> bool:
    """`ALL` grants everything; legacy `NOTIFICATIONS` implies `READ_NOTIFICATIONS` only."""
    if required is None or "ALL" in granted or required in granted:
        return True
    return required == "READ_NOTIFICATIONS" and "NOTIFICATIONS" in granted


def transcription_key(language: str) -> str:
    return f"transcription:{language}"


def parse_subscription(entry: Any, field: str = "subscriptions") -> Subscription:
    """Validate one entry of `subscription_update.subscriptions` (a string, or the SDK type's
    `{"stream": ..., "rate": ...}` object form)."""
    if isinstance(entry, dict):
        stream = entry.get("stream")
        if not isinstance(stream, str):
            raise ProtocolError(
                ErrorCode.INVALID_SUBSCRIPTION,
                "A subscription object needs a string `stream`.",
                f"{field}.stream",
            )
        rate = entry.get("rate")
        if rate is not None and stream in ("location_stream", "location_update"):
            sub = parse_subscription(stream, field)
            return Subscription(sub.raw, sub.key, sub.base, check_tier(rate, f"{field}.rate"))
        entry = stream
    if not isinstance(entry, str) or not entry:
        raise ProtocolError(
            ErrorCode.INVALID_SUBSCRIPTION, "A subscription must be a non-empty string.", field
        )
    raw = entry
    if raw in WILDCARDS:
        return Subscription(raw, raw, raw)
    head, sep, rest = raw.partition(":")
    if not sep:
        if raw == "transcription":
            return Subscription(raw, transcription_key(DEFAULT_LANGUAGE), "transcription")
        if raw in BASE_STREAMS:
            return Subscription(raw, raw, raw)
        raise _unknown(raw, field)
    qualifier = rest.split("?", 1)[0]
    if head == "transcription":
        if qualifier == "auto" or LANGUAGE_RE.match(qualifier):
            return Subscription(raw, transcription_key(qualifier), head)
        raise ProtocolError(
            ErrorCode.INVALID_SUBSCRIPTION,
            f"'{raw}' has an invalid language: use a code like en-US (language-REGION) or auto.",
            field,
        )
    if head == "translation":
        source, to, target = qualifier.partition("-to-")
        source_ok = source == "all" or LANGUAGE_RE.match(source)
        if to and source_ok and LANGUAGE_RE.match(target):
            return Subscription(raw, f"translation:{source}-to-{target}", head)
        raise ProtocolError(
            ErrorCode.INVALID_SUBSCRIPTION,
            f"'{raw}' is not a valid translation stream: use translation:<src>-to-<tgt>, "
            "e.g. translation:es-ES-to-en-US.",
            field,
        )
    if head == "touch_event":
        if qualifier in TOUCH_GESTURES:
            return Subscription(raw, f"touch_event:{qualifier}", head)
        raise ProtocolError(
            ErrorCode.INVALID_SUBSCRIPTION,
            f"'{raw}' names an unknown gesture; known: {', '.join(sorted(TOUCH_GESTURES))}.",
            field,
        )
    if head in ("augmentos", "mentraos") and qualifier:
        return Subscription(raw, f"augmentos:{qualifier}", "augmentos")
    raise _unknown(raw, field)


def _unknown(raw: str, field: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.INVALID_SUBSCRIPTION,
        f"'{raw}' is not a stream this cloud knows (e.g. button_press, transcription:en-US, "
        "touch_event:double_tap, audio_chunk).",
        field,
    )
