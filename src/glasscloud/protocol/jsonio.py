"""JSON encoding/decoding with msgspec, and ISO-8601 timestamps as the reference sends them."""

from __future__ import annotations

import math
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


def format_iso(epoch_seconds: float) -> str:
    """`2025-06-27T10:00:00.000Z`, like JSON.stringify(new Date()), formatted from scratch."""
    dt = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# The last text made and the last second's head; each a tuple swapped in one assignment,
# so a reader on another thread never sees a key with another key's text.
_last_text: tuple[Any, str] = (None, "")
_last_head: tuple[float | None, str] = (None, "")


def iso_timestamp(epoch_seconds: float) -> str:
    """`format_iso(epoch_seconds)`, cheaply: the date and time of day are formatted once per
    second and the text once per millisecond (from scratch it costs ~5 µs, and at a few
    hundred events per second nearly every event is in a new millisecond). The second and
    millisecond are taken exactly as `datetime.fromtimestamp` rounds them."""
    global _last_text, _last_head
    fraction, whole = math.modf(epoch_seconds)
    micros = round(fraction * 1e6)
    key = (whole, micros // 1000)
    last = _last_text
    if last[0] == key:
        return last[1]
    if not 0 <= micros < 1_000_000:  # carries into the next second, or before 1970
        text = format_iso(epoch_seconds)
    else:
        head = _last_head
        if head[0] != whole:
            head = (whole, format_iso(whole)[:-4])
            _last_head = head
        text = f"{head[1]}{micros // 1000:03d}Z"
    _last_text = (key, text)
    return text
