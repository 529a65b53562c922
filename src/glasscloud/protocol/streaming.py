"""Camera streaming on the wire: the App's `rtmp_stream_request` / `rtmp_stream_stop`, what
the glasses are told (`start_rtmp_stream`, `stop_rtmp_stream`, `keep_rtmp_stream_alive`),
the glasses' `rtmp_stream_status` and `keep_alive_ack`, and the top-level status frames the
SDK reads (`rtmp_stream_status`, `managed_stream_status`, `stream_status_check_response`)."""

from __future__ import annotations

from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import encode
from glasscloud.protocol.validate import NUM, OBJ, STR, check_fields

MAX_URL = 2048
MAX_STREAM_ID = 128
# Statuses after which the glasses stream no more (the SDK treats these as "not streaming").
ENDED = frozenset({"stopped", "error", "timeout", "disconnected", "reconnect_failed"})
STATUSES = frozenset(
    {
        "initializing",
        "connecting",
        "reconnecting",
        "streaming",
        "error",
        "stopped",
        "active",
        "stopping",
        "disconnected",
        "timeout",
        "reconnected",
        "reconnect_failed",
    }
)


def validate_request(obj: dict[str, Any]) -> dict[str, Any]:
    """`rtmp_stream_request` -> its options `{rtmpUrl, video, audio, stream}` (objects, `{}`
    when absent)."""
    check_fields(
        "rtmp_stream_request",
        obj,
        {
            "rtmpUrl": ((STR,), True),
            "video": ((OBJ,), False),
            "audio": ((OBJ,), False),
            "stream": ((OBJ,), False),
        },
    )
    url = obj["rtmpUrl"]
    if not url.startswith(("rtmp://", "rtmps://")) or not 8 < len(url) <= MAX_URL:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`rtmpUrl` must be an rtmp:// or rtmps:// URL of at most {MAX_URL} characters.",
            "rtmpUrl",
        )
    return {
        "rtmpUrl": url,
        "video": obj.get("video") or {},
        "audio": obj.get("audio") or {},
        "stream": obj.get("stream") or {},
    }


def validate_stop(obj: dict[str, Any]) -> str | None:
    """`rtmp_stream_stop` -> its streamId (None or "" when the App names none)."""
    check_fields("rtmp_stream_stop", obj, {"streamId": ((STR,), False)})
    return obj.get("streamId") or None


def validate_status(obj: dict[str, Any]) -> None:
    """The glasses' `rtmp_stream_status`."""
    check_fields(
        "rtmp_stream_status",
        obj,
        {
            "streamId": ((STR,), False),
            "status": ((STR,), True),
            "errorDetails": ((STR,), False),
            "stats": ((OBJ,), False),
        },
    )
    if obj["status"] not in STATUSES:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`status` in `rtmp_stream_status` must be one of {', '.join(sorted(STATUSES))}.",
            "status",
        )
    stats = obj.get("stats") or {}
    check_fields(
        "rtmp_stream_status",
        stats,
        {k: ((NUM,), False) for k in ("bitrate", "fps", "droppedFrames", "duration")},
        "stats.",
    )


# ---- cloud -> glasses ------------------------------------------------------------------


def start_rtmp_stream(
    user_id: str, package_name: str, stream_id: str, options: dict[str, Any], timestamp: str
) -> str:
    return encode(
        {
            "type": "start_rtmp_stream",
            "sessionId": user_id,
            "rtmpUrl": options["rtmpUrl"],
            "appId": package_name,
            "streamId": stream_id,
            "video": options["video"],
            "audio": options["audio"],
            "stream": options["stream"],
            "timestamp": timestamp,
        }
    )


def stop_rtmp_stream(user_id: str, package_name: str, stream_id: str, timestamp: str) -> str:
    return encode(
        {
            "type": "stop_rtmp_stream",
            "sessionId": user_id,
            "appId": package_name,
            "streamId": stream_id,
            "timestamp": timestamp,
        }
    )


def keep_rtmp_stream_alive(user_id: str, stream_id: str, ack_id: str, timestamp: str) -> str:
    return encode(
        {
            "type": "keep_rtmp_stream_alive",
            "sessionId": user_id,
            "streamId": stream_id,
            "ackId": ack_id,
            "timestamp": timestamp,
        }
    )


# ---- cloud -> App ----------------------------------------------------------------------


def rtmp_stream_status(
    session_id: str,
    package_name: str,
    stream_id: str | None,
    status: str,
    timestamp: str,
    error_details: str | None = None,
    stats: dict[str, Any] | None = None,
) -> str:
    """The top-level frame the SDK's camera module reads (and emits to `onStreamStatus`)."""
    body: dict[str, Any] = {
        "type": "rtmp_stream_status",
        "sessionId": session_id,
        "streamId": stream_id,
        "status": status,
        "appId": package_name,
    }
    if error_details:
        body["errorDetails"] = error_details
    if stats:
        body["stats"] = stats
    body["timestamp"] = timestamp
    return encode(body)


def managed_stream_status(status: str, message: str, timestamp: str) -> str:
    """`error`/`stopped` reject the SDK's pending `startManagedStream` with `message`."""
    return encode(
        {
            "type": "managed_stream_status",
            "status": status,
            "message": message,
            "timestamp": timestamp,
        }
    )


def stream_status_check_response(info: dict[str, Any] | None, timestamp: str) -> str:
    body: dict[str, Any] = {"type": "stream_status_check_response", "hasActiveStream": bool(info)}
    if info:
        body["streamInfo"] = info
    body["timestamp"] = timestamp
    return encode(body)
