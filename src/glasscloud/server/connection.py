"""A WebSocket as the core's `Connection`: sends never block the caller.

A frame is written to the socket at once when nothing is waiting before it (the queue is
empty and the kernel took everything written so far): no task wake-up, no coroutine. Once
the peer falls behind, frames go to a bounded queue drained by the connection's writer
task, which waits for the socket to drain. When the peer reads too slowly and the queue is
full, the OLDEST queued frame is dropped (and counted): for live
captions the newest text matters most, and one slow App can never hold up the glasses or
any other App. `close()` is queued behind what was sent before it, so `app_stopped` arrives
before the close frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from aiohttp import web

from glasscloud.core.metrics import Metrics
from glasscloud.server.frames import OP_BINARY, OP_PING, OP_TEXT, frame_header

log = logging.getLogger("glasscloud.connection")


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


def _ignore_result(task: asyncio.Future[object]) -> None:
    if not task.cancelled():
        task.exception()


class WsConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        max_queue: int,
        metrics: Metrics,
        side: str,
        request: web.Request | None = None,
    ) -> None:
        self._ws = ws
        self._request = request
        self._transport = request.transport if request is not None else None
        self.stats = ConnectionStats(side)
        self.stats.last_rx = asyncio.get_running_loop().time()
        self._max_queue = max_queue
        self._metrics = metrics
        self._side = side
        self._queue: deque[str | bytes] = deque()
        self._wake = asyncio.Event()
        self._close_request: tuple[int, str] | None = None
        self._done = False
        self._writer = asyncio.create_task(self._drain())

    @property
    def closed(self) -> bool:
        return self._done or self._ws.closed

    def send_text(self, text: str) -> None:
        if self._queue or not self._write_now(text.encode(), OP_TEXT):
            self._enqueue(text)

    def send_binary(self, data: bytes) -> None:
        if self._queue or not self._write_now(data, OP_BINARY):
            self._enqueue(data)

    def _write_now(self, payload: bytes, opcode: int) -> bool:
        """Write one frame straight to the transport if nothing waits before it and the
        kernel has taken everything so far; False means: queue it instead. Order holds
        because the writer task writes each popped frame before it ever awaits."""
        transport = self._transport
        if (
            transport is None
            or self._done
            or self._close_request is not None
            or self._ws.closed
            or transport.is_closing()
            or transport.get_write_buffer_size()
        ):
            return False
        length = len(payload)
        if length > 16384:
            transport.write(frame_header(opcode, length))
            transport.write(payload)
        else:
            transport.write(frame_header(opcode, length) + payload)
        stats = self.stats
        stats.messages_out += 1
        stats.bytes_out += length
        return True

    def _enqueue(self, item: str | bytes) -> None:
        if self._done or self._close_request is not None:
            self._metrics.inc("send_dropped", side=self._side, reason="closed")
            return
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.stats.dropped += 1
            self._metrics.inc("send_dropped", side=self._side, reason="queue_full")
        self._queue.append(item)
        self.stats.queued_max = max(self.stats.queued_max, len(self._queue))
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def ping(self, now: float) -> None:
        """A protocol ping carrying the send time, so the pong gives the round trip."""
        if self._done or self._ws.closed:
            return
        self.stats.pings += 1
        payload = repr(now).encode()
        transport = self._transport
        if transport is None:
            task = asyncio.ensure_future(self._ws.ping(payload))
            task.add_done_callback(_ignore_result)
        elif not transport.is_closing():
            # A control frame may go between any two messages (we never fragment).
            transport.write(frame_header(OP_PING, len(payload)) + payload)

    def kill(self, reason: str) -> None:
        """Drop a dead peer at once: no close handshake (it would wait for an answer that
        will never come). The receive loop then ends and the usual close logic runs."""
        self.stats.disconnect_reason = reason
        self._done = True
        transport = self._request.transport if self._request is not None else None
        if transport is not None:
            transport.abort()
        if not self._writer.done():
            self._writer.cancel()

    def close(self, code: int, reason: str) -> None:
        if self.stats.disconnect_reason is None:
            self.stats.disconnect_reason = f"closed by server: {code} {reason}"
        if self._close_request is None:
            self._close_request = (code, reason[:120])
            self._wake.set()

    async def _drain(self) -> None:
        ws = self._ws
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._queue:
                    item = self._queue.popleft()
                    if isinstance(item, str):
                        await ws.send_str(item)
                    else:
                        await ws.send_bytes(item)
                    self.stats.messages_out += 1
                    self.stats.bytes_out += len(item)
                if self._close_request is not None:
                    code, reason = self._close_request
                    await ws.close(code=code, message=reason.encode())
                    return
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return
        except Exception:  # a writer must never take the process down
            log.exception("writer failed")
        finally:
            self._done = True
            self._queue.clear()

    async def wait_closed(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._writer), timeout)

    def finish(self) -> None:
        """The socket is gone: stop the writer."""
        self._done = True
        if not self._writer.done():
            self._writer.cancel()
