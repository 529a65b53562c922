"""What the server sends to one WebSocket peer, sans-I/O: frames in, bytes out, in the order
they go on the wire. One owner of a socket's outbound bytes, so its rules are stated here and
nowhere else (the shell in `connection.py` only moves `data_to_send()` to the transport):

1. **Order.** Messages leave in the order they were sent. A control frame (ping, pong) goes
   out ahead of the messages still waiting, but never inside one: we never fragment, so a
   frame is always whole (RFC 6455 §5.4 allows control frames between messages).
2. **Bound, drop-oldest.** At most `limit` messages wait. One more drops the OLDEST waiting
   message, counted in `dropped`: for live captions the newest text matters most, and a slow
   peer then costs bounded memory and never holds up anyone else. Control frames are never
   dropped; at most one ping and one pong wait (a newer one replaces the older, as §5.5.3
   allows for pongs; for pings the newer carries the newer send time).
3. **Close after everything queued.** `close()` refuses every later message or control frame
   (counted in `refused`), and `close_due()` hands out the close request only once every
   frame accepted before it has been handed out by `data_to_send()`.
4. **Abort** (a dead peer, a socket that is gone) discards everything; nothing is due then.

Frames are built here (RFC 6455 §5.2, server side: unmasked, uncompressed, always final), so
`data_to_send()` is exactly the bytes for the wire. `messages_out` / `bytes_out` count the
messages and payload bytes handed out, i.e. written to the transport.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from enum import Enum

from glasscloud.server.frames import OP_BINARY, OP_PING, OP_PONG, OP_TEXT, frame_header


class Push(Enum):
    """What became of one message given to the buffer."""

    QUEUED = "queued"
    DROPPED_OLDEST = "dropped_oldest"  # queued; the oldest waiting message was dropped for it
    REFUSED = "refused"  # closing or aborted: not queued


_QUEUED, _REFUSED = Push.QUEUED, Push.REFUSED
# Headers by payload length, made once: audio frames have one size; text headers are kept
# as they are met, for lengths under `_CACHED_TEXT` (bounded: at most that many entries).
_BINARY_HEADERS = {size: frame_header(OP_BINARY, size) for size in (640, 1280, 3200, 6400)}
_CACHED_TEXT = 4096
_TEXT_HEADERS: dict[int, bytes] = {}


class OutboundBuffer:
    __slots__ = (
        "_close",
        "_max_pieces",
        "_payload",
        "_pieces",
        "_ping",
        "_pong",
        "_size",
        "_state",
        "bytes_out",
        "dropped",
        "limit",
        "messages_out",
        "refused",
    )

    _OPEN, _CLOSING, _DONE = 0, 1, 2

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an outbound buffer holds at least one message")
        self.limit = limit
        # The waiting messages as wire pieces, oldest first: header, payload, header, ...
        # Flat, so that handing out everything (the normal case) gives this very deque to
        # one `writelines`, with nothing built per frame; a deque, so dropping the oldest
        # costs the same however many wait.
        self._pieces: deque[bytes] = deque()
        self._max_pieces = 2 * limit
        self._size = 0  # wire bytes of the waiting messages
        self._payload = 0  # payload bytes of the waiting messages
        self._ping: bytes | None = None  # whole frames
        self._pong: bytes | None = None
        self._close: tuple[int, str] | None = None
        self._state = self._OPEN
        self.dropped = 0
        self.refused = 0
        self.messages_out = 0
        self.bytes_out = 0

    # -- input ------------------------------------------------------------------------------

    def send_text(self, text: str) -> Push:
        if self._state:
            self.refused += 1
            return _REFUSED
        payload = text.encode()
        size = len(payload)
        header = _TEXT_HEADERS.get(size)
        if header is None:
            header = frame_header(OP_TEXT, size)
            if size < _CACHED_TEXT:
                _TEXT_HEADERS[size] = header
        pieces = self._pieces
        pieces.append(header)
        pieces.append(payload)
        self._size += len(header) + size
        self._payload += size
        if len(pieces) > self._max_pieces:
            return self._drop_oldest()
        return _QUEUED

    def send_binary(self, data: bytes) -> Push:
        if self._state:
            self.refused += 1
            return _REFUSED
        size = len(data)
        header = _BINARY_HEADERS.get(size) or frame_header(OP_BINARY, size)
        pieces = self._pieces
        pieces.append(header)
        pieces.append(data)
        self._size += len(header) + size
        self._payload += size
        if len(pieces) > self._max_pieces:
            return self._drop_oldest()
        return _QUEUED

    def _drop_oldest(self) -> Push:
        pieces = self._pieces
        header = pieces.popleft()
        payload = pieces.popleft()
        self._size -= len(header) + len(payload)
        self._payload -= len(payload)
        self.dropped += 1
        return Push.DROPPED_OLDEST

    def ping(self, payload: bytes) -> bool:
        """Queue a ping (False once closing). A waiting ping is replaced."""
        if self._state:
            return False
        self._ping = frame_header(OP_PING, len(payload)) + payload
        return True

    def pong(self, payload: bytes) -> bool:
        """Queue a pong (False once closing). A waiting pong is replaced."""
        if self._state:
            return False
        self._pong = frame_header(OP_PONG, len(payload)) + payload
        return True

    def close(self, code: int, reason: str) -> bool:
        """Ask to close after everything accepted so far; True for the first request only."""
        if self._state:
            return False
        self._state = self._CLOSING
        self._close = (code, reason)
        return True

    def abort(self) -> int:
        """Discard everything (the peer is gone); returns how many messages were waiting."""
        waiting = len(self._pieces) >> 1
        self._pieces = deque()
        self._size = self._payload = 0
        self._ping = self._pong = None
        self._close = None
        self._state = self._DONE
        return waiting

    # -- output -----------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Messages waiting (control frames not included)."""
        return len(self._pieces) >> 1

    @property
    def closing(self) -> bool:
        """`close()` or `abort()` was called: nothing more is accepted."""
        return self._state != self._OPEN

    def settled(self) -> bool:
        """Open, with nothing waiting: `data_to_send()` has nothing and no close is due."""
        return not (self._state or self._pieces or self._ping or self._pong)

    def has_data(self) -> bool:
        """Whether `data_to_send()` would return something."""
        return bool(self._pieces) or self._ping is not None or self._pong is not None

    def control_to_send(self) -> list[bytes]:
        """Only the waiting control frames (pong first), for a write that may not wait for
        the messages: they go ahead of every waiting message anyway (rule 1)."""
        out: list[bytes] = []
        if self._pong is not None:
            out.append(self._pong)
            self._pong = None
        if self._ping is not None:
            out.append(self._ping)
            self._ping = None
        return out

    def data_to_send(self, max_bytes: int | None = None) -> Iterable[bytes]:
        """The next bytes for the wire, in order: waiting control frames, then messages,
        oldest first, as many as fit in `max_bytes` (always at least one message, so a frame
        larger than the budget still goes). The pieces are for one `writelines`."""
        pieces = self._pieces
        if self._ping is not None or self._pong is not None:
            out = self.control_to_send()
            if not pieces:
                return out
        elif not pieces:
            return ()
        else:
            out = None
        if max_bytes is None or self._size <= max_bytes:  # everything: the deque itself
            self._pieces = deque()
            self.messages_out += len(pieces) >> 1
            self.bytes_out += self._payload
            self._size = self._payload = 0
            if out is None:
                return pieces
            out += pieces
            return out
        taken: list[bytes] = [] if out is None else out
        budget, size, payload, count = max_bytes, 0, 0, 0
        popleft = pieces.popleft
        while pieces:
            cost = len(pieces[0]) + len(pieces[1])
            if count and cost > budget:
                break
            budget -= cost
            size += cost
            taken.append(popleft())
            body = popleft()
            taken.append(body)
            payload += len(body)
            count += 1
        self._size -= size
        self._payload -= payload
        self.messages_out += count
        self.bytes_out += payload
        return taken

    def close_due(self) -> tuple[int, str] | None:
        """`(code, reason)` once close was asked and everything before it handed out; then
        the buffer is done (returned once)."""
        if self._state != self._CLOSING or self.has_data():
            return None
        close, self._close = self._close, None
        self._state = self._DONE
        return close
