"""The glasses/phone side of the wire (`/glasses-ws`): decoding what the phone sends and
building what the cloud sends back. Field names are the MentraOS phone's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import decode_object, encode
from glasscloud.protocol.location import validate_update
from glasscloud.protocol.streaming import validate_status
from glasscloud.protocol.streams import DEFAULT_LANGUAGE, LANGUAGE_RE
from glasscloud.protocol.validate import (
    BOOL,
    NUM,
    OBJ,
    STR,
    Rules,
    check_fields,
    check_package_name,
)

# Types the cloud acts on itself and never relays to Apps.
CONTROL_TYPES = frozenset(
    {
        "connection_init",
        "start_app",
        "stop_app",
        "request_settings",
        "settings_update_request",
        "core_status_update",
        "keep_alive_ack",
        "local_transcription",
    }
)

_RULES: dict[str, Rules] = {
    "connection_init": {"coreToken": ((STR,), False), "userId": ((STR,), False)},
    "start_app": {"packageName": ((STR,), True)},
    "stop_app": {"packageName": ((STR,), True)},
    "button_press": {"buttonId": ((STR,), False), "pressType": ((STR,), False)},
    "head_position": {"position": ((STR,), True)},
    "local_transcription": {
        "text": ((STR,), True),
        "isFinal": ((BOOL,), True),
        "transcribeLanguage": ((STR,), False),
        "startTime": ((NUM,), False),
        "endTime": ((NUM,), False),
        "speakerId": ((STR, NUM), False),
    },
    "VAD": {"status": ((BOOL, STR), True)},
    "location_update": {"lat": ((NUM,), True), "lng": ((NUM,), True)},
    "glasses_battery_update": {"level": ((NUM,), False), "charging": ((BOOL,), False)},
    "phone_battery_update": {"level": ((NUM,), False), "charging": ((BOOL,), False)},
    "touch_event": {"gesture_name": ((STR,), False)},
    "phone_notification": {
        "notificationId": ((STR, NUM), False),
        "app": ((STR,), False),
        "title": ((STR,), False),
        "content": ((STR,), False),
    },
    "core_status_update": {"status": ((OBJ,), False)},
}


# Checks beyond field kinds, for types whose rules live in their own protocol module.
_CHECKS = {"location_update": validate_update, "rtmp_stream_status": validate_status}


@dataclass(frozen=True, slots=True)
class GlassesMessage:
    """One decoded text frame. `text` is the frame as received, relayed verbatim as `data`."""

    type: str
    obj: dict[str, Any]
    text: str


def decode_glasses_message(text: str) -> GlassesMessage:
    obj = decode_object(text)
    msg_type = obj["type"]
    rules = _RULES.get(msg_type)
    if rules:
        check_fields(msg_type, obj, rules)
    if msg_type in ("start_app", "stop_app"):
        check_package_name(obj["packageName"])
    if (check := _CHECKS.get(msg_type)) is not None:
        check(obj)
    if msg_type == "head_position" and obj["position"] not in ("up", "down"):
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            "`position` in `head_position` must be 'up' or 'down'.",
            "position",
        )
    if (
        msg_type == "VAD"
        and isinstance(obj["status"], str)
        and obj["status"]
        not in (
            "true",
            "false",
        )
    ):
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, "`status` in `VAD` must be true/false.", "status"
        )
    if msg_type == "local_transcription":
        language = obj.get("transcribeLanguage") or DEFAULT_LANGUAGE
        if not LANGUAGE_RE.match(language):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"`transcribeLanguage` must look like en-US, got {language!r}.",
                "transcribeLanguage",
            )
    return GlassesMessage(msg_type, obj, text)


def transcription_result(
    text: str,
    is_final: bool,
    start_ms: int,
    end_ms: int,
    speaker_id: str,
    language: str,
    provider: str,
    utterance_id: str | None = None,
    confidence: float | None = None,
) -> dict[str, Any]:
    """The `data` of a `transcription` data_stream, as the SDK reads it (from the phone's
    `local_transcription` or from a recogniser)."""
    data: dict[str, Any] = {
        "type": "transcription",
        "text": text,
        "isFinal": is_final,
        "startTime": start_ms,
        "endTime": end_ms,
        "speakerId": speaker_id,
        "transcribeLanguage": language,
    }
    if utterance_id is not None:
        data["utteranceId"] = utterance_id
    data["provider"] = provider
    if confidence is not None:
        data["confidence"] = confidence
    if is_final:
        data["duration"] = max(0, end_ms - start_ms)
    return data


def transcription_data(obj: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The `data` of a `transcription` data_stream, from a phone's `local_transcription`."""
    start = obj.get("startTime", now_ms)
    return transcription_result(
        obj["text"],
        obj["isFinal"],
        start,
        obj.get("endTime", start),
        str(obj.get("speakerId", "0")),
        obj.get("transcribeLanguage") or DEFAULT_LANGUAGE,
        "phone",
    )


def user_session(
    user_id: str,
    start_time: str,
    active: list[str],
    loading: list[str],
    subscriptions: dict[str, list[str]],
    requires_audio: bool,
    languages: list[str],
    transcribing: bool,
) -> dict[str, Any]:
    """The `userSession` object of `connection_ack` and `app_state_change`."""
    return {
        "userId": user_id,
        "sessionId": user_id,
        "startTime": start_time,
        "activeAppSessions": active,
        "loadingApps": loading,
        "appSubscriptions": {p: subscriptions.get(p, []) for p in active},
        "requiresAudio": requires_audio,
        "minimumTranscriptionLanguages": languages,
        "isTranscribing": transcribing,
    }


def microphone_session(
    user_id: str, start_time: str, active: list[str], loading: list[str], transcribing: bool
) -> dict[str, Any]:
    """The `userSession` object of `microphone_state_change` (a shorter one)."""
    return {
        "sessionId": user_id,
        "userId": user_id,
        "startTime": start_time,
        "activeAppSessions": active,
        "loadingApps": loading,
        "isTranscribing": transcribing,
    }


# ---- cloud -> glasses -------------------------------------------------------------------


def connection_ack(user_id: str, user_session: dict[str, Any], timestamp: str) -> str:
    return encode(
        {
            "type": "connection_ack",
            "sessionId": user_id,
            "userSession": user_session,
            "timestamp": timestamp,
        }
    )


def connection_error_body(
    code: str, message: str, timestamp: str, field: str | None = None
) -> dict[str, Any]:
    """A `connection_error`: a frame on the socket, or the body of a refused upgrade."""
    body: dict[str, Any] = {"type": "connection_error", "code": code, "message": message}
    if field:
        body["field"] = field
    body["timestamp"] = timestamp
    return body


def connection_error(code: str, message: str, timestamp: str, field: str | None = None) -> str:
    return encode(connection_error_body(code, message, timestamp, field))


def app_state_change(
    user_id: str,
    user_session: dict[str, Any],
    timestamp: str,
    change: dict[str, Any] | None = None,
) -> str:
    body: dict[str, Any] = {
        "type": "app_state_change",
        "sessionId": user_id,
        "userSession": user_session,
    }
    if change:
        body.update(change)
    body["timestamp"] = timestamp
    return encode(body)


def microphone_state_change(
    user_id: str,
    mic_session: dict[str, Any],
    enabled: bool,
    required_data: list[str],
    timestamp: str,
) -> str:
    return encode(
        {
            "type": "microphone_state_change",
            "sessionId": user_id,
            "userSession": mic_session,
            "isMicrophoneEnabled": enabled,
            "requiredData": required_data,
            "bypassVad": False,
            "timestamp": timestamp,
        }
    )


def settings_update(settings: dict[str, Any], timestamp: str, user_id: str | None = None) -> str:
    """Variant A (reply to `request_settings`, with sessionId) or B (to
    `settings_update_request`, with success/message)."""
    body: dict[str, Any] = {"type": "settings_update"}
    if user_id is not None:
        body["sessionId"] = user_id
    else:
        body["success"] = True
        body["message"] = "Current settings retrieved successfully"
    body["settings"] = settings
    body["timestamp"] = timestamp
    return encode(body)


def display_event(
    package_name: str,
    view: str,
    layout: dict[str, Any],
    duration_ms: float | None,
    timestamp: str,
) -> str:
    body: dict[str, Any] = {
        "type": "display_event",
        "view": view,
        "packageName": package_name,
        "layout": layout,
    }
    if duration_ms is not None:
        body["durationMs"] = duration_ms
    body["timestamp"] = timestamp
    return encode(body)
