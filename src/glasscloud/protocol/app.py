"""The App side of the wire (`/app-ws`, webhooks), as `@mentra/sdk` 2.1.29 speaks it
(the `@mentra/sdk` App protocol)."""

from __future__ import annotations

import binascii
import math
from dataclasses import dataclass
from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError, hint
from glasscloud.protocol.jsonio import decode_object, encode, encode_str
from glasscloud.protocol.validate import (
    BOOL,
    LIST,
    NUM,
    OBJ,
    STR,
    Rules,
    check_fields,
    check_package_name,
    type_name,
)

VIEWS = frozenset({"main", "dashboard"})

# A display_event's `durationMs` must be a finite number of milliseconds in
# [0, MAX_DURATION_MS] (0: shown once, as the reference cloud allows; the top is one hour,
# far above any caption or notice, and small enough that timer arithmetic stays exact).
MAX_DURATION_MS = 3_600_000

# Layouts and the string fields each one needs.
LAYOUT_FIELDS: dict[str, tuple[str, ...]] = {
    "text_wall": ("text",),
    "double_text_wall": ("topText", "bottomText"),
    "reference_card": ("title", "text"),
    "dashboard_card": ("leftText", "rightText"),
    "bitmap_view": ("data",),
    "bitmap_animation": (),
    "clear_view": (),
}

# App message types decoded without field rules here: the session part that answers them
# validates them (protocol/hardware.py for camera, audio, LED and Wi-Fi; core/stream_parts.py
# for location and streaming).
VALIDATED_BY_THEIR_PART = frozenset(
    {
        "audio_play_request",
        "audio_stop_request",
        "photo_request",
        "rgb_led_control",
        "rtmp_stream_request",
        "rtmp_stream_stop",
        "managed_stream_request",
        "managed_stream_stop",
        "stream_status_check",
        "location_poll_request",
        "request_wifi_setup",
    }
)

_RULES: dict[str, Rules] = {
    "tpa_connection_init": {
        "packageName": ((STR,), True),
        "apiKey": ((STR,), True),
        "sessionId": ((STR,), True),
    },
    "subscription_update": {"subscriptions": ((LIST,), True)},
    "display_event": {
        "layout": ((OBJ,), True),
        "view": ((STR,), False),
        "durationMs": ((NUM,), False),
    },
    "ownership_release": {"reason": ((STR,), False)},
    "dashboard_content_update": {"content": ((STR, OBJ), True), "modes": ((LIST,), False)},
    "dashboard_mode_change": {"mode": ((STR,), True)},
    "dashboard_system_update": {"section": ((STR,), True), "content": ((STR,), True)},
    # App-to-App communication (core/app_comms.py); `payload` may be any JSON value.
    "app_broadcast_message": {"messageId": ((STR,), False), "roomId": ((STR,), False)},
    "app_direct_message": {"targetUserId": ((STR,), True), "messageId": ((STR,), False)},
    "app_user_discovery": {"includeUserProfiles": ((BOOL,), False)},
    "app_room_join": {"roomId": ((STR,), True), "roomConfig": ((OBJ,), False)},
    "app_room_leave": {"roomId": ((STR,), True)},
}

DASHBOARD_SECTIONS = ("topLeft", "topRight", "bottomLeft", "bottomRight")
DASHBOARD_MODES = ("main", "expanded")
# Modes an App may write content for; `always_on` is accepted and not rendered (as in the
# reference cloud).
DASHBOARD_CONTENT_MODES = (*DASHBOARD_MODES, "always_on")
# Layouts a dashboard item may be given as (flattened to text when rendered).
DASHBOARD_CONTENT_LAYOUTS = ("text_wall", "double_text_wall", "dashboard_card", "reference_card")

@dataclass(frozen=True, slots=True)
class AppMessage:
    type: str
    obj: dict[str, Any]


def decode_app_message(text: str) -> AppMessage:
    obj = decode_object(text)
    msg_type = obj["type"]
    rules = _RULES.get(msg_type)
    if rules is None:
        if msg_type in VALIDATED_BY_THEIR_PART:
            return AppMessage(msg_type, obj)
        raise ProtocolError(
            ErrorCode.UNKNOWN_MESSAGE_TYPE,
            f"Unknown message type '{msg_type}'.",
            "type",
        )
    check_fields(msg_type, obj, rules)
    if msg_type == "tpa_connection_init":
        check_package_name(obj["packageName"])
    elif msg_type == "display_event":
        validate_display(obj)
    elif msg_type.startswith("dashboard_"):
        validate_dashboard(msg_type, obj)
    return AppMessage(msg_type, obj)


def _one_of(value: Any, allowed: tuple[str, ...], path: str) -> None:
    if value not in allowed:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`{path}` must be one of {', '.join(allowed)}, got {value!r}.",
            path,
        )


def validate_dashboard(msg_type: str, obj: dict[str, Any]) -> None:
    """The values of the `dashboard_*` messages (their field kinds are checked by _RULES)."""
    if msg_type == "dashboard_mode_change":
        _one_of(obj["mode"], DASHBOARD_MODES, "mode")
    elif msg_type == "dashboard_system_update":
        _one_of(obj["section"], DASHBOARD_SECTIONS, "section")
    else:
        for index, mode in enumerate(obj.get("modes") or []):
            _one_of(mode, DASHBOARD_CONTENT_MODES, f"modes[{index}]")
        content = obj["content"]
        if isinstance(content, dict):
            _one_of(content.get("layoutType"), DASHBOARD_CONTENT_LAYOUTS, "content.layoutType")
            for name in LAYOUT_FIELDS[content["layoutType"]]:
                if not isinstance(content.get(name), str):
                    raise ProtocolError(
                        ErrorCode.INVALID_FIELD,
                        f"`content.{name}` of a {content['layoutType']} must be a string, "
                        f"got {type_name(content.get(name))}.",
                        f"content.{name}",
                    )


def validate_display(obj: dict[str, Any]) -> None:
    """Reject a malformed layout before it can reach the glasses."""
    layout = obj["layout"]
    layout_type = layout.get("layoutType")
    if layout_type not in LAYOUT_FIELDS:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`layout.layoutType` must be one of {', '.join(sorted(LAYOUT_FIELDS))}, "
            f"got {layout_type!r}.",
            "layout.layoutType",
        )
    for name in LAYOUT_FIELDS[layout_type]:
        value = layout.get(name)
        if not isinstance(value, str):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"`layout.{name}` of a {layout_type} must be a string, got {type_name(value)}.",
                f"layout.{name}",
            )
    if layout_type == "bitmap_view":
        check_base64(layout["data"], "layout.data")
    if layout_type == "bitmap_animation":
        frames = layout.get("frames")
        if not isinstance(frames, list) or not all(isinstance(f, str) for f in frames):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                "`layout.frames` of a bitmap_animation must be an array of strings.",
                "layout.frames",
            )
        check_fields(
            "display_event",
            layout,
            {"interval": ((NUM,), False), "repeat": ((BOOL,), False)},
            prefix="layout.",
        )
        interval = layout.get("interval")
        if interval is not None and not (
            math.isfinite(interval) and 0 <= interval <= MAX_DURATION_MS
        ):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"`layout.interval` must be from 0 to {MAX_DURATION_MS} ms, got {interval!r}.",
                "layout.interval",
            )
    view = obj.get("view", "main")
    if view not in VIEWS:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`view` must be 'main' or 'dashboard', got {view!r}.",
            "view",
        )
    duration = obj.get("durationMs")
    if duration is not None and not (math.isfinite(duration) and 0 <= duration <= MAX_DURATION_MS):
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`durationMs` must be a number of milliseconds from 0 to "
            f"{MAX_DURATION_MS} (one hour), got {duration!r}.",
            "durationMs",
        )


def check_base64(value: str, field: str) -> None:
    """A non-empty standard base64 text (what the SDK makes of a bitmap)."""
    try:
        ok = bool(value) and bool(binascii.a2b_base64(value, strict_mode=True))
    except (binascii.Error, ValueError):
        ok = False
    if not ok:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, f"`{field}` must be non-empty base64 (a BMP image).", field
        )


def app_session_id(user_id: str, package_name: str) -> str:
    return f"{user_id}-{package_name}"


def user_id_from_session_id(session_id: str, package_name: str) -> str | None:
    """Strip the known `-<packageName>` suffix (never split on the first hyphen: user ids
    may contain hyphens)."""
    suffix = "-" + package_name
    if session_id.endswith(suffix) and len(session_id) > len(suffix):
        return session_id[: -len(suffix)]
    return None


# ---- cloud -> App -----------------------------------------------------------------------


def connection_ack(
    session_id: str,
    settings: list[dict[str, Any]],
    system_settings: dict[str, Any],
    capabilities: dict[str, Any] | None,
    config: dict[str, Any] | None,
    timestamp: str,
) -> str:
    body: dict[str, Any] = {
        "type": "tpa_connection_ack",
        "sessionId": session_id,
        "settings": settings,
        "mentraosSettings": system_settings,
        "augmentosSettings": system_settings,
        "capabilities": capabilities,
    }
    if config is not None:
        body["config"] = config
    body["timestamp"] = timestamp
    return encode(body)


def app_config(name: str, settings_schema: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The `config` of `tpa_connection_ack`: what the SDK reads of the App's own record."""
    return {"name": name, "description": "", "version": "1.0.0", "settings": list(settings_schema)}


def dashboard_mode_changed(mode: str, session_id: str, timestamp: str) -> str:
    return encode(
        {
            "type": "dashboard_mode_changed",
            "mode": mode,
            "sessionId": session_id,
            "timestamp": timestamp,
        }
    )


def connection_error(code: str, message: str, timestamp: str, field: str | None = None) -> str:
    """The error frame the SDK surfaces as an `error` event (during init and after)."""
    body: dict[str, Any] = {"type": "tpa_connection_error", "code": code, "message": message}
    if field:
        body["field"] = field
    advice = hint(code)
    if advice:
        body["hint"] = advice
    body["timestamp"] = timestamp
    return encode(body)


def permission_error(details: list[dict[str, str]], timestamp: str) -> str:
    return encode(
        {
            "type": "permission_error",
            "message": "Some subscriptions were rejected due to missing permissions",
            "details": details,
            "timestamp": timestamp,
        }
    )


def app_stopped(timestamp: str, reason: str | None = None) -> str:
    body: dict[str, Any] = {"type": "app_stopped"}
    if reason:
        body["reason"] = reason
    body["timestamp"] = timestamp
    return encode(body)


def data_stream_prefix(session_id: str, stream_type: str) -> str:
    """The constant head of a data_stream frame for one App and one subscription string;
    finish it with `data_stream_frame`. Built once per subscription, not per message."""
    return (
        '{"type":"data_stream","sessionId":'
        + encode_str(session_id)
        + ',"streamType":'
        + encode_str(stream_type)
        + ',"data":'
    )


def data_stream_frame(prefix: str, data_json: str, timestamp: str) -> str:
    return prefix + data_json + ',"timestamp":"' + timestamp + '"}'


def session_request(session_id: str, user_id: str, ws_url: str, timestamp: str) -> dict[str, Any]:
    """The start webhook body; both URL fields, as old and new SDKs read different ones."""
    return {
        "type": "session_request",
        "sessionId": session_id,
        "userId": user_id,
        "timestamp": timestamp,
        "mentraOSWebsocketUrl": ws_url,
        "augmentOSWebsocketUrl": ws_url,
    }


def stop_request(session_id: str, user_id: str, reason: str, timestamp: str) -> dict[str, Any]:
    return {
        "type": "stop_request",
        "sessionId": session_id,
        "userId": user_id,
        "reason": reason,
        "timestamp": timestamp,
    }


# ---- settings and tools ---------------------------------------------------------------


def settings_update(
    package_name: str, session_id: str, settings: list[dict[str, Any]], timestamp: str
) -> str:
    """A user's App settings changed: the whole list (each with its `value`), as in
    `tpa_connection_ack`; the SDK diffs it against what it holds and fires
    `session.settings.onValueChange` for each key that changed."""
    return encode(
        {
            "type": "settings_update",
            "packageName": package_name,
            "sessionId": session_id,
            "settings": settings,
            "timestamp": timestamp,
        }
    )


def settings_webhook(user_id: str, settings: list[dict[str, Any]]) -> dict[str, Any]:
    """The body POSTed to `{publicUrl}/settings` (the SDK's AppServer reads these names)."""
    return {"userIdForSettings": user_id, "settings": settings}


def tool_call(
    tool_id: str, parameters: dict[str, Any], user_id: str, timestamp: str
) -> dict[str, Any]:
    """The body POSTed to `{publicUrl}/tool` (the SDK's ToolCall without `activeSession`,
    which the SDK fills in from `userId`)."""
    return {
        "toolId": tool_id,
        "toolParameters": parameters,
        "userId": user_id,
        "timestamp": timestamp,
    }
