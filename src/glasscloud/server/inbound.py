"""Everything a socket receives passes through here: control frames (ping/pong, for
liveness and round-trip times), per-connection statistics, and the inbound limits (frame
size, message rate per connection and per user). A frame over a limit is dropped, counted,
and answered with a coded error (at most once a second); it never closes anyone's socket."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Sized

from aiohttp import WSMessage, WSMsgType, web

from glasscloud.core.metrics import Metrics
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.server.config import ServerConfig
from glasscloud.server.connection import WsConnection
from glasscloud.server.limits import TokenBucket

SendError = Callable[[ProtocolError], None]


class UserLimits:
    """Server-wide, per user: one rate bucket shared by all the user's sockets, and the
    number of open sockets."""

    def __init__(self, config: ServerConfig) -> None:
        self._config = config
        self._buckets: dict[str, TokenBucket] = {}
        self._sockets: Counter[str] = Counter()

    def acquire(self, user_id: str) -> bool:
        if self._sockets[user_id] >= self._config.max_connections_per_user:
            return False
        self._sockets[user_id] += 1
        return True

    def release(self, user_id: str) -> None:
        self._sockets[user_id] -= 1
        if self._sockets[user_id] <= 0:
            del self._sockets[user_id]
            self._buckets.pop(user_id, None)

    def bucket(self, user_id: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = TokenBucket(self._config.user_rate, self._config.user_burst, now)
            self._buckets[user_id] = bucket
        return bucket


class InboundGuard:
    def __init__(
        self,
        config: ServerConfig,
        limits: UserLimits,
        metrics: Metrics,
        side: str,
        send_error: SendError,
        now: float,
    ) -> None:
        self._config = config
        self._limits = limits
        self._metrics = metrics
        self._side = side
        self._send_error = send_error
        self._bucket = TokenBucket(config.connection_rate, config.connection_burst, now)
        self._user_bucket: TokenBucket | None = None
        self._last_error_at: dict[str, float] = {}

    def bind_user(self, user_id: str, now: float) -> None:
        self._user_bucket = self._limits.bucket(user_id, now)

    def admit(self, size: int, now: float) -> bool:
        if size > self._config.max_message_bytes:
            self._refuse(
                now,
                ProtocolError(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"A {size}-byte frame exceeds the limit of "
                    f"{self._config.max_message_bytes} bytes; it was dropped.",
                ),
                "frame_size",
                always=True,
            )
            return False
        if not self._bucket.take(now) or (
            self._user_bucket is not None and not self._user_bucket.take(now)
        ):
            self._refuse(
                now,
                ProtocolError(
                    ErrorCode.RATE_LIMITED,
                    "Too many messages per second; the excess was dropped.",
                ),
                "rate",
            )
            return False
        return True

    def _refuse(self, now: float, error: ProtocolError, limit: str, always: bool = False) -> None:
        self._metrics.inc("inbound_refused", side=self._side, limit=limit)
        if always or now - self._last_error_at.get(limit, -1e9) >= 1.0:
            self._last_error_at[limit] = now
            self._send_error(error)


def _parsed_frames(ws: web.WebSocketResponse) -> Sized | None:
    """The queue in which aiohttp's reader keeps the frames it parsed and we have not read
    yet (aiohttp 3.14: `WebSocketResponse._reader._buffer`, public in its Cython build too);
    None if this aiohttp keeps it elsewhere."""
    queue = getattr(getattr(ws, "_reader", None), "_buffer", None)
    return queue if isinstance(queue, deque) else None


async def read_frames(
    ws: web.WebSocketResponse, conn: WsConnection, guard: InboundGuard
) -> AsyncIterator[WSMessage]:
    """Yield the TEXT and BINARY frames that pass the limits; answer pings, record pongs.
    Once every frame already read from the socket has been handled (the next read would
    wait), the frames their handling sent to any socket are written (`end_of_read`): all of
    a read's frames for one App in one syscall, and a lone frame at once."""
    loop = asyncio.get_running_loop()
    stats = conn.stats
    parsed = _parsed_frames(ws)
    end_of_read = conn.end_of_read
    async for msg in ws:
        kind = msg.type
        now = loop.time()
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            size = len(msg.data)
            stats.received(size, now)
            if guard.admit(size, now):
                yield msg
        elif kind is WSMsgType.PONG:
            stats.pong(msg.data, now)
        elif kind is WSMsgType.PING:
            stats.last_rx = now
            conn.pong(msg.data)  # through the socket's outbound buffer, like every frame
        elif kind is WSMsgType.ERROR:
            stats.disconnect_reason = stats.disconnect_reason or f"error: {ws.exception()}"
            break
        if not parsed:  # nothing more read and waiting (or unknown: write at once)
            end_of_read()
    if stats.disconnect_reason is None:
        stats.disconnect_reason = f"closed by peer: {ws.close_code}"


class OpenSocket:
    """An accepted WebSocket with its send queue, inbound guard and frame reader."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        conn: WsConnection,
        guard: InboundGuard,
    ) -> None:
        self.ws = ws
        self.conn = conn
        self.guard = guard
        self.frames = read_frames(ws, conn, guard)


async def accept(
    request: web.Request,
    config: ServerConfig,
    limits: UserLimits,
    metrics: Metrics,
    side: str,
    error_frame: Callable[[ProtocolError], str],
    reserved_user: str | None,
) -> OpenSocket:
    """Upgrade the request. If the upgrade fails, the user's connection slot taken before
    it (`reserved_user`) is given back."""
    ws = websocket(config)
    try:
        await ws.prepare(request)
    except BaseException:
        if reserved_user is not None:
            limits.release(reserved_user)
        raise
    queue = config.app_send_queue if side == "app" else config.glasses_send_queue
    conn = WsConnection(ws, queue, metrics, side, request)
    guard = InboundGuard(
        config,
        limits,
        metrics,
        side,
        lambda error: conn.send_text(error_frame(error)),
        asyncio.get_running_loop().time(),
    )
    return OpenSocket(ws, conn, guard)


def websocket(config: ServerConfig) -> web.WebSocketResponse:
    """Our sockets: no permessage-deflate (audio does not compress, and `WsConnection`
    writes its own uncompressed frames; it refuses a socket that negotiated it), pings handled by
    `read_frames` and the liveness monitor, a hard frame cap above the soft limit so an
    oversized frame gets a coded error instead of a close."""
    return web.WebSocketResponse(
        autoping=False,
        compress=False,
        max_msg_size=config.max_message_bytes * 2,
        timeout=5.0,
    )
