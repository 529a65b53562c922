"""The frames an App sends, byte-for-byte as `@mentra/sdk` 2.1.29 sends them.

Field order is part of the contract (tests/fixtures/sdk-wire-capture-part1.txt, captured
from the real SDK): a Python App must be
indistinguishable on the wire from a TypeScript one, so every builder writes its keys in the
order the official SDK does, including its quirks (`display_event` starts with `timestamp`
and carries an empty `sessionId`; `dashboard_content_update` carries the session id with the
package name appended a second time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from glasscloud.protocol.jsonio import encode


def _number(value: float) -> int | float:
    """JSON.stringify writes 5000.0 as 5000; so do we."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def connection_init(session_id: str, package_name: str, api_key: str, timestamp: str) -> str:
    return encode(
        {
            "type": "tpa_connection_init",
            "sessionId": session_id,
            "packageName": package_name,
            "apiKey": api_key,
            "timestamp": timestamp,
        }
    )


def subscription_update(
    package_name: str,
    subscriptions: Sequence[str | dict[str, str]],
    session_id: str,
    timestamp: str,
) -> str:
    """The complete, replacing list of streams (never a delta)."""
    return encode(
        {
            "type": "subscription_update",
            "packageName": package_name,
            "subscriptions": list(subscriptions),
            "sessionId": session_id,
            "timestamp": timestamp,
        }
    )


def display_event(
    package_name: str,
    view: str,
    layout: dict[str, Any],
    duration_ms: float | None,
    timestamp: str,
) -> str:
    body: dict[str, Any] = {
        "timestamp": timestamp,
        "sessionId": "",
        "type": "display_event",
        "packageName": package_name,
        "view": view,
        "layout": layout,
    }
    if duration_ms is not None:
        body["durationMs"] = _number(duration_ms)
    return encode(body)


def dashboard_content_update(
    package_name: str, session_id: str, content: str, modes: Sequence[str], timestamp: str
) -> str:
    return encode(
        {
            "type": "dashboard_content_update",
            "packageName": package_name,
            # The official SDK appends the package name to the session id once more here.
            "sessionId": f"{session_id}-{package_name}",
            "content": content,
            "modes": list(modes),
            "timestamp": timestamp,
        }
    )


def ownership_release(package_name: str, session_id: str, reason: str, timestamp: str) -> str:
    return encode(
        {
            "type": "ownership_release",
            "packageName": package_name,
            "sessionId": session_id,
            "reason": reason,
            "timestamp": timestamp,
        }
    )


# ---- layouts (the `layout` object of display_event) --------------------------------------


def text_wall(text: str) -> dict[str, Any]:
    return {"layoutType": "text_wall", "text": text}


def double_text_wall(top_text: str, bottom_text: str) -> dict[str, Any]:
    return {"layoutType": "double_text_wall", "topText": top_text, "bottomText": bottom_text}


def reference_card(title: str, text: str) -> dict[str, Any]:
    return {"layoutType": "reference_card", "title": title, "text": text}


def dashboard_card(left_text: str, right_text: str) -> dict[str, Any]:
    return {"layoutType": "dashboard_card", "leftText": left_text, "rightText": right_text}


def bitmap_view(data: str) -> dict[str, Any]:
    return {"layoutType": "bitmap_view", "data": data}


def bitmap_animation(frames: Sequence[str], interval: float, repeat: bool) -> dict[str, Any]:
    return {
        "layoutType": "bitmap_animation",
        "frames": list(frames),
        "interval": _number(interval),
        "repeat": repeat,
    }


def clear_view() -> dict[str, Any]:
    return {"layoutType": "clear_view"}


# ---- App-to-App communication (keys in the official SDK's order) -------------------------


def app_broadcast_message(
    package_name: str,
    session_id: str,
    payload: Any,
    message_id: str,
    sender_user_id: str,
    timestamp: str,
) -> str:
    return encode(
        {
            "type": "app_broadcast_message",
            "packageName": package_name,
            "sessionId": session_id,
            "payload": payload,
            "messageId": message_id,
            "senderUserId": sender_user_id,
            "timestamp": timestamp,
        }
    )


def app_direct_message(
    package_name: str,
    session_id: str,
    target_user_id: str,
    payload: Any,
    message_id: str,
    sender_user_id: str,
    timestamp: str,
) -> str:
    return encode(
        {
            "type": "app_direct_message",
            "packageName": package_name,
            "sessionId": session_id,
            "targetUserId": target_user_id,
            "payload": payload,
            "messageId": message_id,
            "senderUserId": sender_user_id,
            "timestamp": timestamp,
        }
    )


def app_room(kind: str, package_name: str, session_id: str, room_id: str, timestamp: str) -> str:
    """`app_room_join` or `app_room_leave` (the SDK omits an undefined roomConfig)."""
    return encode(
        {
            "type": kind,
            "packageName": package_name,
            "sessionId": session_id,
            "roomId": room_id,
            "timestamp": timestamp,
        }
    )
def http_base(ws_url: str) -> str:
    """The cloud's HTTP base URL from its App WebSocket URL (`wss://host/app-ws` ->
    `https://host`), as the official SDK derives it for its REST calls."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return f"{scheme}://{parts.netloc}"
