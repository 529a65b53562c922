"""Server-to-client WebSocket frame headers (RFC 6455 §5.2), for `outbound.py`.

Frames a server sends are never masked, and glasscloud never compresses (permessage-deflate
is refused on every socket; `connection.py` fails loudly if one negotiated it), so a frame is
a 2-, 4- or 10-byte header in front of the payload. Writing it straight to the transport
skips a task wake-up and two coroutines per delivered frame, which is most of what a relay
does.
"""

from __future__ import annotations

import struct

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_PING = 0x9
OP_PONG = 0xA

_SHORT = struct.Struct("!BB").pack
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack


def frame_header(opcode: int, length: int) -> bytes:
    """The header of one final, unmasked, uncompressed frame carrying `length` bytes."""
    first = 0x80 | opcode
    if length < 126:
        return _SHORT(first, length)
    if length < 65536:
        return _MEDIUM(first, 126, length)
    return _LONG(first, 127, length)
