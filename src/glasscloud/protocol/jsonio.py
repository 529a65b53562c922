"""JSON encoding/decoding with msgspec, and ISO-8601 timestamps as the reference sends them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from glasscloud.protocol.errors import ErrorCode, ProtocolError

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode(obj: Any) -> str:
    """Encode to a JSON text (str: WebSocket text frames must carry JSON, binary is audio)."""
    return _encoder.encode(obj).decode()


def encode_str(value: str) -> str:
    """A JSON string literal, for splicing into pre-built frames."""
    return _encoder.encode(value).decode()


def decode_object(text: str | bytes) -> dict[str, Any]:
    """Decode one frame that must be a JSON object with a string `type`."""
    try:
        obj = _decoder.decode(text)
    except msgspec.DecodeError as exc:
        raise ProtocolError(
            ErrorCode.MALFORMED_MESSAGE, f"The frame is not valid JSON: {exc}."
        ) from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED_MESSAGE, "The frame must be a JSON object.")
    msg_type = obj.get("type")
    if not isinstance(msg_type, str) or not msg_type:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, "Every message needs a non-empty string `type`.", "type"
        )
    return obj


def iso_timestamp(epoch_seconds: float) -> str:
    """`2025-06-27T10:00:00.000Z`, like JSON.stringify(new Date())."""
    dt = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
