"""Connections before they prove who they are: bounded in time, per address, and in
descriptors, so slow or hostile peers cannot lock anyone out.

Every accepted TCP connection is watched from `connection_made` until it is authenticated
(a glasses or App WebSocket that passed its checks) or closed:
- **header timeout**: the first request head must be complete within `header_timeout`
  seconds of accepting (a slowloris that sends one header line every 10 s is answered 408
  and closed; 0 turns the timeout off). Idle keep-alive connections (and a partial next
  request) are closed by aiohttp's `keepalive_timeout`.
- **per address**: at most `max_pending_per_address` unauthenticated connections from one
  IP (0: no cap); a connection past that is closed at once.
- **descriptor budget**: `RLIMIT_NOFILE` minus the descriptors open at start minus
  `fd_reserve` (the store, webhooks, speech workers, logs). When a new connection would
  exceed it, the OLDEST unauthenticated connection is closed to make room (a legitimate
  client completes its head in a round trip, so the oldest pending one is the likeliest
  slowloris); with none to close, the new connection is. The process never reaches EMFILE
  on accept, so `/health` and glasses connects keep working.
Every closure is counted as `connections_refused{reason}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from glasscloud.core.metrics import Metrics

log = logging.getLogger("glasscloud.admission")

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


def descriptor_limit() -> int:
    """The soft RLIMIT_NOFILE (the number of descriptors this process may hold)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def open_descriptors() -> int:
    """Descriptors open now (0 where /proc is missing)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


class _Entry:
    __slots__ = ("address", "authenticated", "deadline", "transport")

    def __init__(self, transport: asyncio.Transport, address: str) -> None:
        self.transport = transport
        self.address = address
        self.authenticated = False
        self.deadline: asyncio.TimerHandle | None = None


class ConnectionGuard:
    def __init__(
        self,
        metrics: Metrics,
        header_timeout: float,
        max_pending_per_address: int,
        fd_reserve: int,
    ) -> None:
        self._metrics = metrics
        self._header_timeout = header_timeout
        self._max_per_address = max_pending_per_address
        self._fd_reserve = fd_reserve
        self._budget = 0
        # every open connection, by transport; the unauthenticated ones also in `_pending`
        # (oldest first) and counted per address
        self._open: dict[asyncio.Transport, _Entry] = {}
        self._pending: OrderedDict[asyncio.Transport, _Entry] = OrderedDict()
        self._per_address: dict[str, int] = {}

    def start(self) -> None:
        """Measure the budget: the descriptor limit less what is open now and the reserve."""
        self._budget = max(16, descriptor_limit() - open_descriptors() - self._fd_reserve)
        log.info("connection budget: %d descriptors", self._budget)

    @property
    def budget(self) -> int:
        return self._budget

    @property
    def pending(self) -> int:
        return len(self._pending)

    def __len__(self) -> int:
        return len(self._open)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """The protocol factory to serve with: aiohttp's, watched by this guard."""
        return lambda: _GuardedProtocol(factory(), self)

    # -- events --------------------------------------------------------------------------

    def opened(self, transport: asyncio.Transport) -> bool:
        """A connection was accepted; False if it must be closed at once."""
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        if self._max_per_address and self._per_address.get(address, 0) >= self._max_per_address:
            self._metrics.inc("connections_refused", reason="per_address")
            return False
        if self._budget and len(self._open) >= self._budget:
            if not self._pending:
                self._metrics.inc("connections_refused", reason="descriptor_budget")
                return False
            _oldest, entry = next(iter(self._pending.items()))
            self._metrics.inc("connections_refused", reason="descriptor_budget")
            self._close(entry, timed_out=False)
        entry = _Entry(transport, address)
        self._open[transport] = entry
        self._pending[transport] = entry
        self._per_address[address] = self._per_address.get(address, 0) + 1
        if self._header_timeout > 0:
            entry.deadline = asyncio.get_running_loop().call_later(
                self._header_timeout, self._head_overdue, entry
            )
        return True

    def head_received(self, transport: asyncio.Transport | None) -> None:
        """A complete request head arrived on this connection."""
        entry = self._open.get(transport) if transport is not None else None
        if entry is not None and entry.deadline is not None:
            entry.deadline.cancel()
            entry.deadline = None

    def authenticated(self, transport: asyncio.BaseTransport | None) -> None:
        """The connection is a glasses or App socket that passed authentication."""
        entry = self._open.get(transport) if transport is not None else None  # type: ignore[arg-type]
        if entry is None or entry.authenticated:
            return
        entry.authenticated = True
        self._unpend(entry)

    def closed(self, transport: asyncio.Transport) -> None:
        entry = self._open.pop(transport, None)
        if entry is None:
            return
        if entry.deadline is not None:
            entry.deadline.cancel()
        if not entry.authenticated:
            self._unpend(entry)

    # -- internals -----------------------------------------------------------------------

    def _unpend(self, entry: _Entry) -> None:
        if self._pending.pop(entry.transport, None) is None:
            return
        left = self._per_address.get(entry.address, 1) - 1
        if left > 0:
            self._per_address[entry.address] = left
        else:
            self._per_address.pop(entry.address, None)

    def _head_overdue(self, entry: _Entry) -> None:
        entry.deadline = None
        self._metrics.inc("connections_refused", reason="header_timeout")
        self._close(entry, timed_out=True)

    def _close(self, entry: _Entry, timed_out: bool) -> None:
        transport = entry.transport
        if timed_out and not transport.is_closing():
            with contextlib.suppress(Exception):
                transport.write(_REQUEST_TIMEOUT)
        self.closed(transport)
        if timed_out:
            transport.close()  # after the 408 is written
        else:
            transport.abort()


class _GuardedProtocol(asyncio.Protocol):
    """aiohttp's RequestHandler, with the guard told of each connection's life."""

    def __init__(self, inner: Any, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport subclasses, but behave as one)
        self._transport = transport  # type: ignore[assignment]
        self._inner.connection_made(transport)
        if not self._guard.opened(transport):  # type: ignore[arg-type]
            transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._guard.closed(self._transport)
        self._inner.connection_lost(exc)


class GuardedSite(web.TCPSite):
    """A TCPSite whose connections are watched by a ConnectionGuard."""

    def __init__(self, runner: web.BaseRunner, guard: ConnectionGuard, *args: Any, **kw: Any):
        super().__init__(runner, *args, **kw)
        self._guard = guard

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            self._guard.wrap(server),
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        if self._server.sockets:
            self._bound_port = self._server.sockets[0].getsockname()[1]
        else:
            self._bound_port = self._port


def head_middleware(guard: ConnectionGuard) -> Any:
    """An aiohttp middleware: a request reaching a handler had its head complete."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        guard.head_received(request.transport)  # type: ignore[arg-type]
        return await handler(request)

    return middleware


class QuietParseErrors:
    """The logger aiohttp's request handler writes to: a malformed request (a 20,000
    character URL, a bad header) becomes one info line and a counter instead of an error
    with a traceback; anything else is logged as before."""

    def __init__(self, metrics: Metrics, logger: logging.Logger | None = None) -> None:
        self._metrics = metrics
        self._log = logger or logging.getLogger("aiohttp.server")

    def exception(self, msg: str, *args: Any, exc_info: Any = None, **kw: Any) -> None:
        from aiohttp.http_exceptions import HttpProcessingError

        if isinstance(exc_info, HttpProcessingError):
            reason = type(exc_info).__name__
            self._metrics.inc("http_bad_requests", reason=reason)
            detail = " ".join(str(getattr(exc_info, "message", exc_info)).split())[:160]
            self._log.info("bad HTTP request (%s): %s", reason, detail)
            return
        self._log.exception(msg, *args, exc_info=exc_info, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)
