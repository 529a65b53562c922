"""A WebSocket as the core's `Connection`: sends never block the caller.

Every frame the server sends to a socket (messages, pings, pongs) goes through the socket's
`OutboundBuffer` (`outbound.py`, sans-I/O), which owns their order, the bound with its
drop-oldest policy and the close-after-everything rule; this module only moves its bytes to
the transport, in one of two ways:

- **The peer keeps up** (the transport holds nothing the kernel has not taken): the frames
  a socket is sent while the server handles one read of another socket (a glasses frame
  relayed to its Apps, an App's display to the glasses) are written together as soon as
  that read's frames are all handled (`end_of_read()`, called by the reader when the next
  read would wait), in one `writelines`. At light load that is at once; at saturation a
  read brings many frames and each App gets them in one syscall. What is sent outside any
  read (timers, tasks) is written at the end of the loop pass (one `call_soon` per pass for
  all sockets). No task wake-up, no coroutine.
- **The peer is behind**: the socket's writer task writes the buffer in chunks and waits for
  the transport to drain between them, while the buffer (bounded) takes what is sent
  meanwhile.

Control frames (pings, pongs) are written at once in both cases, ahead of the waiting
messages and never inside one (every write is whole frames): a busy peer's pongs and our
pings never wait for the peer to drain what it is behind on.

The one frame aiohttp writes is the close frame: when the buffer says the close is due
(everything accepted before `close()` has been written), the writer task calls
`WebSocketResponse.close()`, which writes it after our bytes on the same transport and runs
the close handshake (ends the receive loop, waits for the peer's close, closes the socket).
Our frames are never compressed, so a socket that negotiated permessage-deflate is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from aiohttp import web

from glasscloud.core.metrics import Metrics
from glasscloud.server.outbound import OutboundBuffer, Push

_QUEUED = Push.QUEUED

log = logging.getLogger("glasscloud.connection")

# Bytes handed to the transport per write: the whole of a loop pass's frames in the normal
# case; once the peer is behind, the transport holds at most its high-water mark plus this,
# and the rest waits in the buffer, where the drop-oldest rule applies.
WRITE_CHUNK = 64 * 1024

# Pings whose write times are kept (liveness judges a socket by the pings that went out).
PING_HISTORY = 8


class WriteBatch:
    """The sockets of one event loop with frames waiting to be written: flushed at the end
    of each read that produced them (`flush`), or at the end of the loop pass for frames
    sent outside any read (one `call_soon` per pass, booked by the first of them)."""

    __slots__ = ("_booked", "_end_of_pass", "_loop", "conns")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.conns: list[WsConnection] = []
        self._loop = loop
        self._booked = False
        self._end_of_pass = self._pass_ended

    def add(self, conn: WsConnection) -> None:
        self.conns.append(conn)
        if not self._booked:
            self._booked = True
            self._loop.call_soon(self._end_of_pass)

    def flush(self) -> None:
        conns = self.conns
        if conns:
            self.conns = []
            for conn in conns:
                conn._flush()

    def _pass_ended(self) -> None:
        self._booked = False
        self.flush()


_batch: list[WriteBatch] = []  # the last loop's batch (one loop per process in the server)


def write_batch(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    if not _batch or _batch[0]._loop is not loop:
        _batch[:] = [WriteBatch(loop)]
    return _batch[0]


class ConnectionStats:
    """Per-connection counters for the admin API."""

    def __init__(self, side: str) -> None:
        self.side = side
        self.user_id: str | None = None
        self.package_name: str | None = None
        self.messages_in = 0
        self.bytes_in = 0
        self.messages_out = 0
        self.bytes_out = 0
        self.pings = 0
        self.pongs = 0
        self.rtts_ms: deque[float] = deque(maxlen=5)
        self.ping_times: deque[float] = deque(maxlen=PING_HISTORY)  # written, loop time
        self.last_rx = 0.0
        self.queued_max = 0
        self.dropped = 0
        self.disconnect_reason: str | None = None

    def received(self, size: int, now: float) -> None:
        self.messages_in += 1
        self.bytes_in += size
        self.last_rx = now

    def pong(self, payload: bytes, now: float) -> None:
        self.pongs += 1
        self.last_rx = now
        with contextlib.suppress(ValueError):
            self.rtts_ms.append(round((now - float(payload.decode())) * 1000, 3))

    def as_json(self) -> dict[str, object]:
        return {
            "side": self.side,
            "userId": self.user_id,
            "packageName": self.package_name,
            "messagesIn": self.messages_in,
            "bytesIn": self.bytes_in,
            "messagesOut": self.messages_out,
            "bytesOut": self.bytes_out,
            "pings": self.pings,
            "pongs": self.pongs,
            "rttMs": list(self.rtts_ms),
            "queuedMax": self.queued_max,
            "dropped": self.dropped,
            "disconnectReason": self.disconnect_reason,
        }


class WsConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        max_queue: int,
        metrics: Metrics,
        side: str,
        request: web.Request,
    ) -> None:
        if ws.compress:
            raise RuntimeError(
                "permessage-deflate was negotiated on this socket, but glasscloud writes its "
                "own uncompressed frames: create it with compress=False"
            )
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("the socket closed before it was served")
        self._ws = ws
        self._transport = transport
        self._stream = request.writer  # drain(): waits while the transport is paused
        self.stats = ConnectionStats(side)
        self._loop = asyncio.get_running_loop()
        self.stats.last_rx = self._loop.time()
        self._metrics = metrics
        self._side = side
        self._out = OutboundBuffer(max_queue)
        self._batch = write_batch(self._loop)
        # Called by a socket's reader once it has handled all it read: writes what that
        # produced, for every socket (`read_frames` in inbound.py).
        self.end_of_read = self._batch.flush
        self._scheduled = False  # in the batch: a `_flush` is due
        self._behind = False  # the writer task owns the writes until the buffer is empty
        self._wake = asyncio.Event()
        self._done = False
        self._writer = asyncio.create_task(self._write_behind())

    @property
    def closed(self) -> bool:
        return self._done or self._ws.closed

    @property
    def queued(self) -> int:
        """Messages waiting in the buffer (not yet handed to the transport)."""
        return self._out.queued

    def send_text(self, text: str) -> None:
        result = self._out.send_text(text)
        if result is not _QUEUED:
            self._not_queued(result)
        if not (self._scheduled or self._behind or self._done):
            self._scheduled = True
            self._batch.add(self)

    def send_binary(self, data: bytes) -> None:
        result = self._out.send_binary(data)
        if result is not _QUEUED:
            self._not_queued(result)
        if not (self._scheduled or self._behind or self._done):
            self._scheduled = True
            self._batch.add(self)

    def _not_queued(self, result: Push) -> None:
        if result is Push.DROPPED_OLDEST:
            self.stats.dropped += 1
            self._metrics.inc("send_dropped", side=self._side, reason="queue_full")
        else:
            self._metrics.inc("send_dropped", side=self._side, reason="closed")

    def ping(self, now: float) -> None:
        """A protocol ping carrying the send time, so the pong gives the round trip; written
        at once. `stats.ping_times` records it only once it is written."""
        if self._done or self._ws.closed:
            return
        if self._out.ping(repr(now).encode()) and self._write_control():
            self.stats.pings += 1
            self.stats.ping_times.append(now)

    def pong(self, payload: bytes) -> None:
        """Answer a peer's ping at once (ahead of the messages still waiting)."""
        if self._out.pong(payload):
            self._write_control()

    def _write_control(self) -> bool:
        """Write the waiting control frames now, whether or not the peer is behind: the
        transport holds whole frames only, so they go between two messages (rule 1 of
        `outbound.py`). False if the socket is going (they are then discarded with it)."""
        transport = self._transport
        if self._done or transport.is_closing():
            return False
        transport.writelines(self._out.control_to_send())
        return True

    def _schedule(self) -> None:
        if self._scheduled or self._behind or self._done:
            return
        self._scheduled = True
        self._batch.add(self)

    def _flush(self) -> None:
        """The end of a read or of the loop pass: write what waits in one `writelines` if
        the kernel has taken everything so far; else (or to close) the writer task takes
        over."""
        self._scheduled = False
        if self._behind or self._done:
            return
        transport = self._transport
        if transport.get_write_buffer_size() or transport.is_closing():
            self._fall_behind()
            return
        out = self._out
        data = out.data_to_send(WRITE_CHUNK)
        if data:
            transport.writelines(data)
            stats = self.stats
            stats.messages_out = out.messages_out
            stats.bytes_out = out.bytes_out
        if not out.settled():
            self._fall_behind()

    def _fall_behind(self) -> None:
        self._behind = True
        stats = self.stats
        stats.queued_max = max(stats.queued_max, self._out.queued)
        self._wake.set()

    def _count_out(self) -> None:
        stats, out = self.stats, self._out
        stats.messages_out = out.messages_out
        stats.bytes_out = out.bytes_out

    def kill(self, reason: str) -> None:
        """Drop a dead peer at once: no close handshake (it would wait for an answer that
        will never come). The receive loop then ends and the usual close logic runs."""
        self.stats.disconnect_reason = reason
        self._done = True
        self._out.abort()
        self._transport.abort()
        if not self._writer.done():
            self._writer.cancel()

    def close(self, code: int, reason: str) -> None:
        """Close after every frame sent before (the buffer's rule 3)."""
        if self.stats.disconnect_reason is None:
            self.stats.disconnect_reason = f"closed by server: {code} {reason}"
        if self._out.close(code, reason[:120]):
            self._schedule()

    async def _write_behind(self) -> None:
        """The writer task: once the peer is behind, write the buffer chunk by chunk,
        waiting for the transport to drain in between; then the close, when it is due."""
        out, transport, stats = self._out, self._transport, self.stats
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while out.has_data():
                    if transport.is_closing():
                        raise ConnectionResetError("transport closing")
                    stats.queued_max = max(stats.queued_max, out.queued)
                    transport.writelines(out.data_to_send(WRITE_CHUNK))
                    self._count_out()
                    await self._stream.drain()  # at once unless the transport is paused
                close = out.close_due()
                if close is not None:
                    code, reason = close
                    await self._ws.close(code=code, message=reason.encode())
                    return
                self._behind = False
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return
        except Exception:  # a writer must never take the process down
            log.exception("writer failed")
        finally:
            self._done = True
            waiting = self._out.abort()
            if waiting:  # the socket went before they could be written
                self._metrics.inc("send_dropped", waiting, side=self._side, reason="closed")

    async def wait_closed(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)

    def finish(self) -> None:
        """The socket is gone: stop the writer."""
        self._done = True
        self._out.abort()
        if not self._writer.done():
            self._writer.cancel()
