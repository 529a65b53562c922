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


def encode_bytes(obj: Any) -> bytes:
    """Encode to JSON bytes (an HTTP body; cheaper than aiohttp's `json=`, 1 µs vs 18 µs)."""
    return _encoder.encode(obj)


def encode_str(value: str) -> str:
    """A JSON string literal, for splicing into pre-built frames."""
    return _encoder.encode(value).decode()


# Peer JSON may nest at most this deep (the outermost object or array is level 1). Real
# frames nest 3-5 levels (a layout inside a display_event, a setting's options); msgspec
# itself recurses on the C stack and fails with RecursionError near 1,000 levels, which
# a 2 KB frame reaches (docs/decisions.md, "JSON depth limit").
MAX_JSON_DEPTH = 64

_CONTAINERS = (list, dict)


def decode_json(data: str | bytes, what: str = "frame") -> Any:
    """Decode peer JSON (`what` names it in errors: "frame", "body"). The one place where
    text from a peer becomes Python values: invalid JSON or nesting deeper than
    MAX_JSON_DEPTH raise ProtocolError(MALFORMED_MESSAGE), never RecursionError."""
    try:
        value = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise ProtocolError(
            ErrorCode.MALFORMED_MESSAGE, f"The {what} is not valid JSON: {exc}."
        ) from None
    except RecursionError:
        raise _too_deep(what) from None
    # Nesting deeper than the limit needs more opening brackets than the limit; counting
    # them is C-speed, so ordinary frames never pay for the walk.
    if isinstance(data, bytes):
        openers = data.count(b"[") + data.count(b"{")
    else:
        openers = data.count("[") + data.count("{")
    if openers > MAX_JSON_DEPTH and nesting_exceeds(value, MAX_JSON_DEPTH):
        raise _too_deep(what)
    return value


def nesting_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects in `value` nest more than `limit` levels; breadth-first and
    without recursion, stopping at the first level past the limit."""
    level = [value] if value.__class__ in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        for item in level:
            children = item.values() if item.__class__ is dict else item
            below += [v for v in children if v.__class__ in _CONTAINERS]
        level = below
    return False


def _too_deep(what: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.MALFORMED_MESSAGE,
        f"The {what} nests arrays/objects more than {MAX_JSON_DEPTH} levels deep.",
    )


def decode_object(text: str | bytes) -> dict[str, Any]:
    """Decode one frame that must be a JSON object with a string `type`."""
    obj = decode_json(text)
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED_MESSAGE, "The frame must be a JSON object.")
    msg_type = obj.get("type")
    if not isinstance(msg_type, str) or not msg_type:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, "Every message needs a non-empty string `type`.", "type"
        )
    return obj


def decode_body(data: bytes) -> dict[str, Any]:
    """An HTTP request body that must be one JSON object (the developer API, App server
    registration). Raises ProtocolError(MALFORMED_MESSAGE) naming the problem."""
    if not data.strip():
        raise ProtocolError(
            ErrorCode.MALFORMED_MESSAGE, "The body must be a JSON object; it is empty."
        )
    obj = decode_json(data, "body")
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED_MESSAGE, "The body must be a JSON object.")
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
