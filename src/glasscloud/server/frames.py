"""Server-to-client WebSocket frames (RFC 6455 §5.2) for the direct write path.

Frames a server sends are never masked, and glasscloud never compresses
(permessage-deflate is off on every socket), so a frame is a 2-, 4- or 10-byte header in
front of the payload. Writing it straight to the transport skips a task wake-up and two
coroutines per delivered frame, which is most of what a relay does.
"""

from __future__ import annotations

import struct

OP_TEXT = 0x1
OP_BINARY = 0x2
OP_PING = 0x9

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
