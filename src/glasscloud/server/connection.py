"""A WebSocket as the core's `Connection`: sends never block the caller.

Every frame the server sends to a socket (messages, pings, pongs) goes through the socket's
`OutboundBuffer` (`outbound.py`, sans-I/O), which owns their order, the bound with its
drop-oldest policy and the close-after-everything rule; this module only moves its bytes to
the transport, in one of two ways:

- **The peer keeps up** (the transport holds nothing the kernel has not taken): the first
  frame of a loop pass is written at once, and the frames that follow it in the same pass
  together at the end of the pass (one `call_soon` per pass, one `writelines`); a socket in
  a burst (its previous pass began under `BURST_GAP` ago: saturation) has its whole pass
  written at its end, one syscall for all. No task wake-up, no coroutine.
- **The peer is behind**: the socket's writer task writes the buffer in chunks and waits for
  the transport to drain between them, while the buffer (bounded) takes what is sent
  meanwhile.

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

# A socket whose passes come closer together than this (over ~100 passes with frames per
# second: saturation) is in a burst and is written once per loop pass; one whose frames are
# further apart (captions, audio at 10 frames/s: 67-100 ms) gets each pass's first frame at
# once. At 1 ms, saturation (a pass every ~2 ms per socket) was not caught and cost ~15 %.
BURST_GAP = 0.010  # s


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
        self._flush_cb = self._flush
        self._scheduled = False  # a `_flush` is due at the end of this loop pass
        self._last_pass = -BURST_GAP  # loop time of the previous pass's first frame
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
        if not self._scheduled:
            self._schedule()

    def send_binary(self, data: bytes) -> None:
        result = self._out.send_binary(data)
        if result is not _QUEUED:
            self._not_queued(result)
        if not self._scheduled:
            self._schedule()

    def _not_queued(self, result: Push) -> None:
        if result is Push.DROPPED_OLDEST:
            self.stats.dropped += 1
            self._metrics.inc("send_dropped", side=self._side, reason="queue_full")
        else:
            self._metrics.inc("send_dropped", side=self._side, reason="closed")

    def ping(self, now: float) -> None:
        """A protocol ping carrying the send time, so the pong gives the round trip."""
        if self._done or self._ws.closed:
            return
        if self._out.ping(repr(now).encode()):
            self.stats.pings += 1
            self._schedule()

    def pong(self, payload: bytes) -> None:
        """Answer a peer's ping (ahead of the messages still waiting)."""
        if self._out.pong(payload):
            self._schedule()

    def _schedule(self) -> None:
        """The first frame of a loop pass. Unless the socket is in a burst, it is written at
        once: waiting for the end of the pass would hold it while the pass runs everyone
        else's callbacks and the next poll (most of the light-load latency, see
        docs/performance.md). The end of the pass is booked for the frames that follow. A
        socket whose previous pass began less than `BURST_GAP` ago is in a burst
        (saturation): its whole pass is written at the end, one syscall for all."""
        if self._scheduled or self._behind or self._done:
            return
        self._scheduled = True
        self._loop.call_soon(self._flush_cb)
        now = self._loop.time()
        if now - self._last_pass >= BURST_GAP:
            self._write()
        self._last_pass = now

    def _flush(self) -> None:
        """End of the loop pass: the frames sent since the first one, in one `writelines`."""
        self._scheduled = False
        if self._out.has_data() or self._out.closing:
            self._write()

    def _write(self) -> None:
        """Write what waits in one `writelines` if the kernel has taken everything so far;
        else (or to close) the writer task takes over."""
        if self._behind or self._done:
            return
        transport = self._transport
        out = self._out
        if transport.is_closing() or transport.get_write_buffer_size():
            self._fall_behind()
            return
        if out.has_data():
            transport.writelines(out.data_to_send(WRITE_CHUNK))
            self._count_out()
        if out.has_data() or out.closing:
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
