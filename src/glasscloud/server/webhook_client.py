"""The HTTP client that POSTs webhooks (`session_request`, `stop_request`) to App servers.

Why not aiohttp's ClientSession, which the rest of the server uses for outgoing calls: a
reconnect storm sends two webhooks per user moved, and `ClientSession.post` cost 99 µs of
CPU per webhook against 26 µs for a plain protocol on the same keep-alive connections
(bench/webhook_client_bench.py); in a storm of sessions opened that was 11 % of the server's
instructions (bench.session_open --callgrind, docs/performance.md). This client does only what
a webhook needs, so it stays small:

- `POST` of a small JSON body over HTTP/1.1, `http` or `https` (the system's CA store and
  hostname check: `ssl.create_default_context()`), keep-alive connections per origin,
  reused most-recent first, at most `max_idle` idle per origin, none kept past `idle_seconds`;
- the answer parsed by httptools (llhttp, the parser uvicorn and aiohttp build on): status,
  `Content-Length`, chunked or close-delimited bodies; a body is read up to
  MAX_ANSWER_BYTES (a webhook answer is a small JSON object) and not kept;
- no redirects (a 3xx is the answer: `HTTP 301`), no proxies, no cookies, no compression;
- a request that finds its reused connection closed by the App server before any answer
  byte (the server's keep-alive ran out just then) is sent once more on a new connection.

Failures raise WebhookError with one sentence; the caller's timeout covers connecting,
sending and the answer (`asyncio.timeout`).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

MAX_ANSWER_BYTES = 64 * 1024
MAX_HEAD_BYTES = 16 * 1024
USER_AGENT = b"glasscloud"

_DEFAULT_PORTS = {"http": 80, "https": 443}


class WebhookError(Exception):
    """The webhook got no HTTP answer; the message says why, in one sentence."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: bytes  # the request target: path and query
    host_header: bytes

    @classmethod
    def of(cls, url: str) -> Target:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise WebhookError(f"the App's URL {url!r} is not http or https")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise WebhookError(f"the App's URL {url!r} has an invalid port") from None
        host = parts.hostname
        if not host:
            raise WebhookError(f"the App's URL {url!r} names no host")
        shown = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[scheme]:
            shown += f":{port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            header = shown.encode("ascii")
        except UnicodeEncodeError:
            header = shown.encode("idna")
        return cls(scheme, host, port, path.encode("utf-8"), header)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, origin: tuple[str, str, int], pool: WebhookClient) -> None:
        self.origin = origin
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[int] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._received = 0
        self._status = 0
        self._keep_alive = False

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: the connection is not reusable
            self.close()
            return
        self._received += len(data)
        if self._received > MAX_HEAD_BYTES + MAX_ANSWER_BYTES:
            self._fail(WebhookError(f"the answer is larger than {MAX_ANSWER_BYTES} bytes"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(WebhookError("the App server answered with a protocol upgrade"))
        except httptools.HttpParserError as exc:
            self._fail(WebhookError(f"the answer is not valid HTTP/1.1 ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        if self._answer is None or self._answer.done():
            return
        if self._status:  # a close-delimited body ends here; the status is what counts
            self._finish(keep_alive=False)
        elif self._received == 0 and self.reused:
            self._answer.set_exception(_Stale())
        else:
            why = f" ({exc})" if exc else ""
            self._answer.set_exception(
                WebhookError(f"the App server closed the connection before answering{why}")
            )

    # -- httptools callbacks -------------------------------------------------------------

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._status = self._parser.get_status_code()
        self._keep_alive = self._parser.should_keep_alive()

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._status = 0
            return
        self._finish(self._keep_alive)

    # -- requests -------------------------------------------------------------------------

    def request(self, head: bytes, body: bytes) -> asyncio.Future[int]:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._received = 0
        self._status = 0
        self.transport.write(head + body)
        return self._answer

    def _finish(self, keep_alive: bool) -> None:
        answer, status = self._answer, self._status
        self._parser = None
        if not keep_alive:
            self.close()
        if answer is not None and not answer.done():
            answer.set_result(status)

    def _fail(self, error: Exception) -> None:
        answer = self._answer
        self._parser = None
        self.close()
        if answer is not None and not answer.done():
            answer.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Stale(Exception):
    """A reused connection was closed by the server before any answer byte."""


class WebhookClient:
    """Keep-alive POSTs to App servers. One per server process; `close` at shutdown."""

    def __init__(
        self,
        max_idle: int = 64,
        idle_seconds: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_idle = max_idle
        self.idle_seconds = idle_seconds
        self._ssl = ssl_context
        self._idle: dict[tuple[str, str, int], collections.deque[_Connection]] = {}
        self._all: set[_Connection] = set()

    async def post_json(self, url: str, body: bytes) -> int:
        """POST `body` (JSON) to `url`; the answer's HTTP status. Raises WebhookError."""
        target = Target.of(url)
        head = b"".join(
            (
                b"POST ",
                target.path,
                b" HTTP/1.1\r\nHost: ",
                target.host_header,
                b"\r\nUser-Agent: ",
                USER_AGENT,
                b"\r\nContent-Type: application/json\r\nContent-Length: ",
                str(len(body)).encode(),
                b"\r\n\r\n",
            )
        )
        origin = (target.scheme, target.host, target.port)
        conn = self._take_idle(origin)
        if conn is not None:
            try:
                return await self._exchange(conn, head, body)
            except _Stale:
                pass  # sent once more, on a new connection
        conn = await self._connect(origin)
        try:
            return await self._exchange(conn, head, body)
        except _Stale:  # a new connection is never stale; to be safe
            raise WebhookError("the App server closed the connection before answering") from None

    async def _exchange(self, conn: _Connection, head: bytes, body: bytes) -> int:
        try:
            status = await conn.request(head, body)
        except BaseException:
            conn.close()  # a timeout or a failure: never reused mid-answer
            raise
        self._release(conn)
        return status

    def _take_idle(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used
            if not conn.closed and now - conn.idle_since < self.idle_seconds:
                conn.reused = True
                return conn
            conn.close()
        return None

    async def _connect(self, origin: tuple[str, str, int]) -> _Connection:
        scheme, host, port = origin
        context = None
        if scheme == "https":
            context = self._ssl = self._ssl or ssl.create_default_context()
        loop = asyncio.get_running_loop()
        try:
            _transport, conn = await loop.create_connection(
                lambda: _Connection(origin, self),
                host,
                port,
                ssl=context,
                server_hostname=host if context is not None else None,
            )
        except ssl.SSLError as exc:
            raise WebhookError(f"TLS with {host}:{port} failed ({exc.reason or exc})") from None
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise WebhookError(f"cannot connect to {host}:{port} ({reason})") from None
        self._all.add(conn)
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.closed:
            return
        idle = self._idle.setdefault(conn.origin, collections.deque())
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def _forget(self, conn: _Connection) -> None:
        """A connection closed (by either side): out of the pool."""
        self._all.discard(conn)
        idle = self._idle.get(conn.origin)
        if idle is not None and conn in idle:
            idle.remove(conn)
            if not idle:
                del self._idle[conn.origin]

    @property
    def open_connections(self) -> int:
        return len(self._all)

    async def close(self) -> None:
        """Close every connection."""
        for conn in list(self._all):
            conn.close()
        self._idle.clear()
        await asyncio.sleep(0)  # let the transports run their close callbacks
