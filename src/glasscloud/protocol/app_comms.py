"""Frames of App-to-App communication sent to Apps (`@mentra/sdk` 2.1.29 types
`AppMessageReceived`, `AppUserJoined`, `AppUserLeft`, `AppRoomUpdated`,
`AppDirectMessageResponse`; `app_user_discovery_response` is glasscloud's answer to
`app_user_discovery`, which the SDK has no reader for: the same body as
POST /api/app-communication/discover-users)."""

from __future__ import annotations

from typing import Any

from glasscloud.protocol.errors import hint
from glasscloud.protocol.jsonio import encode


def message_received(
    payload: Any,
    message_id: str,
    sender_user_id: str,
    sender_session_id: str,
    timestamp: str,
    room_id: str | None = None,
) -> str:
    body: dict[str, Any] = {
        "type": "app_message_received",
        "payload": payload,
        "messageId": message_id,
        "senderUserId": sender_user_id,
        "senderSessionId": sender_session_id,
    }
    if room_id:
        body["roomId"] = room_id
    body["timestamp"] = timestamp
    return encode(body)


def direct_response(
    message_id: str,
    target_user_id: str,
    success: bool,
    timestamp: str,
    code: str | None = None,
    message: str | None = None,
) -> str:
    body: dict[str, Any] = {
        "type": "app_direct_message_response",
        "messageId": message_id,
        "success": success,
        "targetUserId": target_user_id,
    }
    if not success:
        body["error"] = message or ""
        body["code"] = code
        advice = hint(code or "")
        if advice:
            body["hint"] = advice
    body["timestamp"] = timestamp
    return encode(body)


def discovery(users: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of a user list (WebSocket answer and HTTP route)."""
    return {"users": users, "totalUsers": len(users)}


def user_list(users: list[dict[str, Any]], timestamp: str) -> str:
    return encode(
        {"type": "app_user_discovery_response", **discovery(users), "timestamp": timestamp}
    )


def user_joined(user_id: str, session_id: str, room_id: str, timestamp: str) -> str:
    return encode(
        {
            "type": "app_user_joined",
            "userId": user_id,
            "sessionId": session_id,
            "joinedAt": timestamp,
            "roomId": room_id,
            "timestamp": timestamp,
        }
    )


def user_left(user_id: str, session_id: str, room_id: str, timestamp: str) -> str:
    return encode(
        {
            "type": "app_user_left",
            "userId": user_id,
            "sessionId": session_id,
            "leftAt": timestamp,
            "roomId": room_id,
            "timestamp": timestamp,
        }
    )


def room_updated(room_id: str, update_type: str, member_count: int, timestamp: str) -> str:
    return encode(
        {
            "type": "app_room_updated",
            "roomId": room_id,
            "updateType": update_type,
            "roomData": {"memberCount": member_count},
            "timestamp": timestamp,
        }
    )
