"""Stream names an App subscribes to, built the way the official SDK spells them and checked
with the cloud's own grammar (`glasscloud.protocol.streams`), so a typo fails in the App, at
registration, instead of as an error frame from the cloud."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote_plus, urlencode

from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.streams import DEFAULT_LANGUAGE, parse_subscription
from glasscloud.sdk.errors import InvalidStreamError

BUTTON_PRESS = "button_press"
HEAD_POSITION = "head_position"
PHONE_NOTIFICATION = "phone_notification"
PHONE_NOTIFICATION_DISMISSED = "phone_notification_dismissed"
TOUCH_EVENT = "touch_event"
LOCATION_UPDATE = "location_update"
GLASSES_BATTERY = "glasses_battery_update"
PHONE_BATTERY = "phone_battery_update"
VAD = "VAD"
AUDIO_CHUNK = "audio_chunk"
CALENDAR_EVENT = "calendar_event"


def checked(stream: str) -> str:
    """`stream` unchanged if the cloud's grammar accepts it, else InvalidStreamError."""
    try:
        parse_subscription(stream, "stream")
    except ProtocolError as error:
        raise InvalidStreamError(error.message) from None
    return stream


def _query(disable_language_identification: bool, hints: Sequence[str]) -> str:
    # URLSearchParams order and encoding: the comma in hints is %2C.
    params: list[tuple[str, str]] = []
    if disable_language_identification:
        params.append(("no-language-identification", "true"))
    if hints:
        params.append(("hints", ",".join(hints)))
    return "?" + urlencode(params, quote_via=quote_plus) if params else ""


def transcription(
    language: str = DEFAULT_LANGUAGE,
    *,
    hints: Sequence[str] = (),
    disable_language_identification: bool = False,
) -> str:
    """`transcription:en-US`, or e.g.
    `transcription:fr-FR?no-language-identification=true&hints=en%2Cde`."""
    return checked(f"transcription:{language}" + _query(disable_language_identification, hints))


def translation(source: str, target: str, *, disable_language_identification: bool = False) -> str:
    """`translation:es-ES-to-en-US` (`source` may be `all`)."""
    return checked(
        f"translation:{source}-to-{target}" + _query(disable_language_identification, ())
    )


def touch(gesture: str | None = None) -> str:
    """`touch_event` (every gesture) or `touch_event:<gesture>`."""
    return checked(TOUCH_EVENT if gesture is None else f"{TOUCH_EVENT}:{gesture}")
