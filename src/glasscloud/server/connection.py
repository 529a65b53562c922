"""A WebSocket as the core's `Connection`: sends never block the caller.

While the peer keeps up, the frames sent to a socket during one pass of the event loop are
written together at its end (one `call_soon` per pass, one `writelines` = one syscall for
all of them; no task wake-up, no coroutine). Once the peer falls behind (the kernel has not
taken everything written so far), frames go to a bounded queue drained by the connection's
writer task, which sends through aiohttp and waits for the socket to drain. When the peer
reads too slowly and the queue is full, the OLDEST queued frame is dropped (and counted):
for live captions the newest text matters most, and one slow App can never hold up the
glasses or any other App. `close()` is queued behind what was sent before it, so
`app_stopped` arrives before the close frame.
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
        # Frames sent during this pass of the event loop, written together at its end.
        self._pending: list[str | bytes] = []
        self._loop = asyncio.get_running_loop()
        self._flush_cb = self._flush
        self._wake = asyncio.Event()
        self._close_request: tuple[int, str] | None = None
        self._done = False
        self._writer = asyncio.create_task(self._drain())

    @property
    def closed(self) -> bool:
        return self._done or self._ws.closed

    def send_text(self, text: str) -> None:
        self._send(text)

    def send_binary(self, data: bytes) -> None:
        self._send(data)

    def _send(self, item: str | bytes) -> None:
        if self._done or self._close_request is not None:
            self._metrics.inc("send_dropped", side=self._side, reason="closed")
        elif self._pending:
            if len(self._pending) >= self._max_queue:  # one pass is bounded like the queue
                self._pending.pop(0)
                self.stats.dropped += 1
                self._metrics.inc("send_dropped", side=self._side, reason="queue_full")
            self._pending.append(item)  # behind what this loop pass already sent
        elif self._queue or self._transport is None:
            self._enqueue(item)  # the peer is behind: the bounded queue
        else:
            self._pending.append(item)
            self._loop.call_soon(self._flush_cb)

    def _flush(self) -> None:
        """Write what this loop pass sent, in one `writelines` (one syscall for several
        frames), if the kernel has taken everything so far; else hand it to the queue."""
        items, self._pending = self._pending, []
        transport = self._transport
        if not items or transport is None:
            return
        if self._done or self._ws.closed or transport.is_closing():
            self._metrics.inc("send_dropped", len(items), side=self._side, reason="closed")
            return
        if self._queue or transport.get_write_buffer_size():
            for item in items:
                self._enqueue(item, even_if_closing=True)
            return
        frames: list[bytes] = []
        size = 0
        for item in items:
            if isinstance(item, str):
                payload = item.encode()
                frames.append(frame_header(OP_TEXT, len(payload)))
            else:
                payload = item
                frames.append(frame_header(OP_BINARY, len(payload)))
            frames.append(payload)
            size += len(payload)
        transport.writelines(frames)
        stats = self.stats
        stats.messages_out += len(items)
        stats.bytes_out += size

    def _enqueue(self, item: str | bytes, even_if_closing: bool = False) -> None:
        """`even_if_closing`: frames sent before `close()` was asked still go before it."""
        if self._done or (self._close_request is not None and not even_if_closing):
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
