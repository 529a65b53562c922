"""A WebSocket as the core's `Connection`: sends never block the caller.

Each connection has a bounded queue drained by its own writer task. When a peer reads too
slowly and the queue is full, the OLDEST queued frame is dropped (and counted): for live
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

log = logging.getLogger("glasscloud.connection")


class WsConnection:
    def __init__(
        self, ws: web.WebSocketResponse, max_queue: int, metrics: Metrics, side: str
    ) -> None:
        self._ws = ws
        self._max_queue = max_queue
        self._metrics = metrics
        self._side = side
        self._queue: deque[str | bytes] = deque()
        self._wake = asyncio.Event()
        self._close_request: tuple[int, str] | None = None
        self._done = False
        self.dropped = 0
        self.sent = 0
        self._writer = asyncio.create_task(self._drain())

    @property
    def closed(self) -> bool:
        return self._done or self._ws.closed

    def send_text(self, text: str) -> None:
        self._enqueue(text)

    def send_binary(self, data: bytes) -> None:
        self._enqueue(data)

    def _enqueue(self, item: str | bytes) -> None:
        if self._done or self._close_request is not None:
            self._metrics.inc("send_dropped", side=self._side, reason="closed")
            return
        if len(self._queue) >= self._max_queue:
            self._queue.popleft()
            self.dropped += 1
            self._metrics.inc("send_dropped", side=self._side, reason="queue_full")
        self._queue.append(item)
        self._wake.set()

    def close(self, code: int, reason: str) -> None:
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
                    self.sent += 1
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
