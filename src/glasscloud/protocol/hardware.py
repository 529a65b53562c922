"""Wire shapes of the glasses' hardware: photos, sound, the LED and Wi-Fi setup.

App -> cloud (as `@mentra/sdk` 2.1.29 sends them): `photo_request`, `audio_play_request`,
`audio_stop_request`, `rgb_led_control`, `request_wifi_setup`. Cloud -> glasses: the same
requests addressed to the phone (with `appId`, the photo's `webhookUrl`), `show_wifi_setup`.
Glasses -> cloud: `photo_response`, `photo_taken`, `audio_play_response`,
`rgb_led_control_response`. Cloud -> App: `audio_play_response` and the other answers as
top-level frames (the SDK matches them by `type`, not as `data_stream`), and the fields of
the `photo_error` POST to the App's `/photo-upload` route.
"""

from __future__ import annotations

import math
from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import encode
from glasscloud.protocol.validate import BOOL, NUM, STR, Rules, check_fields

# App messages handled by core/hardware.py.
APP_HARDWARE_MESSAGES = frozenset(
    {
        "photo_request",
        "audio_play_request",
        "audio_stop_request",
        "rgb_led_control",
        "request_wifi_setup",
    }
)

# Glasses messages that answer one of those requests (to the App that asked only).
GLASSES_HARDWARE_ANSWERS = frozenset(
    {"photo_response", "photo_taken", "audio_play_response", "rgb_led_control_response"}
)

PHOTO_SIZES = ("small", "medium", "large", "full")
PHOTO_COMPRESSION = ("none", "medium", "heavy")
LED_ACTIONS = ("on", "off")
LED_COLORS = ("red", "green", "blue", "orange", "white")
MAX_URL = 2048
MAX_TRACK_ID = 15
MAX_LED_MS = 60_000
MAX_LED_COUNT = 100
MAX_REASON = 200

_RULES: dict[str, Rules] = {
    "photo_request": {
        "requestId": ((STR,), True),
        "saveToGallery": ((BOOL,), False),
        "customWebhookUrl": ((STR,), False),
        "authToken": ((STR,), False),
        "size": ((STR,), False),
        "compress": ((STR,), False),
        "sound": ((BOOL,), False),
    },
    "audio_play_request": {
        "requestId": ((STR,), True),
        "audioUrl": ((STR,), True),
        "volume": ((NUM,), False),
        "stopOtherAudio": ((BOOL,), False),
        "trackId": ((NUM,), False),
    },
    "audio_stop_request": {"trackId": ((NUM,), False)},
    "rgb_led_control": {
        "requestId": ((STR,), False),
        "action": ((STR,), True),
        "color": ((STR,), False),
        "ontime": ((NUM,), False),
        "offtime": ((NUM,), False),
        "count": ((NUM,), False),
    },
    "request_wifi_setup": {"reason": ((STR,), False)},
}


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, message, field)


def _one_of(obj: dict[str, Any], name: str, allowed: tuple[str, ...]) -> None:
    value = obj.get(name)
    if value is not None and value not in allowed:
        raise _invalid(name, f"`{name}` must be one of {', '.join(allowed)}, got {value!r}.")


def _url(obj: dict[str, Any], name: str) -> None:
    value = obj.get(name)
    if value is None:
        return
    if len(value) > MAX_URL or not value.startswith(("http://", "https://")):
        shown = value if len(value) <= 80 else value[:80] + "..."
        raise _invalid(
            name, f"`{name}` must be an http(s) URL of at most {MAX_URL} characters, got {shown!r}."
        )


def _number(obj: dict[str, Any], name: str, low: float, high: float, integer: bool) -> None:
    value = obj.get(name)
    if value is None:
        return
    ok = math.isfinite(value) and low <= value <= high
    if integer and ok:
        ok = float(value).is_integer()
    if not ok:
        kind = "a whole number" if integer else "a number"
        raise _invalid(name, f"`{name}` must be {kind} from {low:g} to {high:g}, got {value!r}.")


def validate_hardware(msg_type: str, obj: dict[str, Any]) -> None:
    """Check one App hardware message; raises ProtocolError naming the bad field (and the
    request: the SDK shows only the sentence)."""
    check_fields(msg_type, obj, _RULES[msg_type])
    try:
        _check_values(msg_type, obj)
    except ProtocolError as error:
        request_id = obj.get("requestId")
        what = f"{msg_type} {request_id!r}" if isinstance(request_id, str) else msg_type
        raise ProtocolError(error.code, f"{what} refused: {error.message}", error.field) from None


def _check_values(msg_type: str, obj: dict[str, Any]) -> None:
    if msg_type == "photo_request":
        _one_of(obj, "size", PHOTO_SIZES)
        _one_of(obj, "compress", PHOTO_COMPRESSION)
        _url(obj, "customWebhookUrl")
        token = obj.get("authToken")
        if token is not None and len(token) > MAX_URL:
            raise _invalid("authToken", f"`authToken` must be at most {MAX_URL} characters.")
    elif msg_type == "audio_play_request":
        _url(obj, "audioUrl")
        _number(obj, "volume", 0, 1, integer=False)
        _number(obj, "trackId", 0, MAX_TRACK_ID, integer=True)
    elif msg_type == "audio_stop_request":
        _number(obj, "trackId", 0, MAX_TRACK_ID, integer=True)
    elif msg_type == "rgb_led_control":
        _one_of(obj, "action", LED_ACTIONS)
        _one_of(obj, "color", LED_COLORS)
        for name in ("ontime", "offtime"):
            _number(obj, name, 0, MAX_LED_MS, integer=True)
        _number(obj, "count", 0, MAX_LED_COUNT, integer=True)
    elif msg_type == "request_wifi_setup":
        reason = obj.get("reason")
        if reason is not None and len(reason) > MAX_REASON:
            raise _invalid("reason", f"`reason` must be at most {MAX_REASON} characters.")


def photo_error_of(obj: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) of a failed `photo_response` (`error: {code, message}` as the SDK
    types it, or flat `errorCode`/`errorMessage` as phones send it); None if it succeeded."""
    if obj.get("success") is not False:
        return None
    error = obj.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
    else:
        code = obj.get("errorCode")
        message = obj.get("errorMessage") if isinstance(obj.get("errorMessage"), str) else error
    return (
        str(code) if isinstance(code, str) and code else "UNKNOWN_ERROR",
        str(message)[:500] if isinstance(message, str) and message else "The photo failed.",
    )


# ---- cloud -> glasses -------------------------------------------------------------------


def glasses_photo_request(
    user_id: str, obj: dict[str, Any], package_name: str, webhook_url: str, timestamp: str
) -> str:
    body: dict[str, Any] = {
        "type": "photo_request",
        "sessionId": user_id,
        "requestId": obj["requestId"],
        "appId": package_name,
        "webhookUrl": webhook_url,
    }
    if obj.get("authToken"):
        body["authToken"] = obj["authToken"]
    body["size"] = obj.get("size") or "medium"
    body["compress"] = obj.get("compress") or "none"
    body["saveToGallery"] = bool(obj.get("saveToGallery", False))
    # As the reference cloud: the privacy flash always on (bystanders see a photo is taken);
    # the shutter sound on unless the App says otherwise.
    body["flash"] = True
    body["sound"] = obj.get("sound") is not False
    body["timestamp"] = timestamp
    return encode(body)


def glasses_audio_play_request(
    user_id: str, obj: dict[str, Any], package_name: str, audio_url: str, timestamp: str
) -> str:
    return encode(
        {
            "type": "audio_play_request",
            "sessionId": user_id,
            "requestId": obj["requestId"],
            "packageName": package_name,
            "appId": package_name,
            "audioUrl": audio_url,
            "volume": obj.get("volume", 1),
            "stopOtherAudio": obj.get("stopOtherAudio", True),
            "trackId": obj.get("trackId", 0),
            "timestamp": timestamp,
        }
    )


def glasses_audio_stop_request(
    user_id: str, package_name: str, track_id: Any, timestamp: str
) -> str:
    body: dict[str, Any] = {"type": "audio_stop_request", "sessionId": user_id}
    body["appId"] = package_name
    if track_id is not None:
        body["trackId"] = track_id
    body["timestamp"] = timestamp
    return encode(body)


def glasses_led_control(
    user_id: str, obj: dict[str, Any], package_name: str, request_id: str, timestamp: str
) -> str:
    body: dict[str, Any] = {
        "type": "rgb_led_control",
        "sessionId": user_id,
        "requestId": request_id,
        "packageName": package_name,
        "action": obj["action"],
    }
    if obj["action"] == "on":
        body["color"] = obj.get("color") or "red"
        body["ontime"] = obj.get("ontime", 1000)
        body["offtime"] = obj.get("offtime", 0)
        body["count"] = obj.get("count", 1)
    body["timestamp"] = timestamp
    return encode(body)


def show_wifi_setup(package_name: str, reason: str | None, timestamp: str) -> str:
    body: dict[str, Any] = {"type": "show_wifi_setup"}
    if reason:
        body["reason"] = reason
    body["appPackageName"] = package_name
    body["timestamp"] = timestamp
    return encode(body)


# ---- cloud -> App -----------------------------------------------------------------------


def audio_play_response(
    request_id: str, success: bool, timestamp: str, error: str | None = None, duration: Any = None
) -> str:
    body: dict[str, Any] = {
        "type": "audio_play_response",
        "requestId": request_id,
        "success": success,
    }
    if error is not None:
        body["error"] = error
    if duration is not None:
        body["duration"] = duration
    body["timestamp"] = timestamp
    return encode(body)


def photo_error_fields(request_id: str, code: str, message: str) -> dict[str, str]:
    """The text fields of the `photo_error` POST to `{publicUrl}/photo-upload`: the SDK
    rejects `requestPhoto()` on `type === "photo_error"` with "Photo capture failed:
    {errorMessage} (code: {errorCode})" (a multipart `success=false` is a string there, so
    `type` is what counts)."""
    return {
        "requestId": request_id,
        "type": "photo_error",
        "success": "false",
        "errorCode": code,
        "errorMessage": message,
    }
