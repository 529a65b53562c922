"""`/glasses-ws`: the phone/glasses connection.

Authentication: `Authorization: Bearer <core token>` at the upgrade (a bad token is refused
with HTTP 401 and a JSON `connection_error`, no upgrade). Clients that cannot set headers
connect without one and must send `connection_init` with `coreToken` first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from time import perf_counter
from typing import TYPE_CHECKING

from aiohttp import WSMessage, WSMsgType, web

from glasscloud.auth.tokens import TokenError, verify_core_token
from glasscloud.core.session import UserSession
from glasscloud.protocol import glasses as wire
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.server.connection import WsConnection
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.inbound import accept
from glasscloud.server.request_context import bearer_token, server_of
from glasscloud.server.sessions import ClusterUnavailable, open_session, session_moving, unavailable

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer

log = logging.getLogger("glasscloud.glasses")


def _now() -> str:
    return iso_timestamp(time.time())


def _too_many(user_id: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.TOO_MANY_CONNECTIONS, f"{user_id} has too many open connections."
    )


async def handle(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    header = request.headers.get("Authorization")
    user_id: str | None = None
    if header is not None or "token" in request.query:
        token = bearer_token(header) if header is not None else request.query.get("token")
        try:
            user_id = verify_core_token(server.secret, token or None)
        except TokenError as error:
            server.metrics.inc("glasses_auth_failures", code=error.code.value)
            # 401 for every token refusal (a valid token of the wrong kind included)
            return error_response(error.as_protocol_error(), Envelope.GLASSES, status=401)
        if not server.user_limits.acquire(user_id):
            server.metrics.inc("glasses_auth_failures", code=ErrorCode.TOO_MANY_CONNECTIONS.value)
            return error_response(_too_many(user_id), Envelope.GLASSES)
        server.connection_guard.authenticated(request.transport)

    sock = await accept(
        request,
        server.config,
        server.user_limits,
        server.metrics,
        "glasses",
        lambda e: wire.connection_error(e.code, e.message, _now(), e.field),
        user_id,
    )
    ws, conn, guard, frames = sock.ws, sock.conn, sock.guard, sock.frames
    loop = asyncio.get_running_loop()
    server.connections.add(conn)
    try:
        if user_id is None:
            user_id = await _authenticate_by_message(server, conn, frames)
            if user_id is None:
                await conn.wait_closed()
                return ws
            server.connection_guard.authenticated(request.transport)
        conn.stats.user_id = user_id
        guard.bind_user(user_id, loop.time())
        await _serve(server, conn, frames, user_id)
    finally:
        server.connection_closed(conn, user_id)
    return ws


async def _authenticate_by_message(
    server: GlasscloudServer, conn: WsConnection, frames: AsyncIterator[WSMessage]
) -> str | None:
    """For clients without headers: the first frame must be `connection_init` + coreToken.
    Returns the user id, with the user's connection slot taken, or None (socket closing)."""
    try:
        msg = await asyncio.wait_for(anext(frames), server.config.timings.auth_timeout)
    except TimeoutError:
        _reject(
            conn,
            ErrorCode.MISSING_TOKEN,
            "No core token: send `Authorization: Bearer <token>` at the upgrade or "
            "`connection_init` with `coreToken` first.",
        )
        return None
    except StopAsyncIteration:
        return None
    if msg.type is not WSMsgType.TEXT:
        _reject(
            conn,
            ErrorCode.MISSING_TOKEN,
            "The first frame must be a `connection_init` text frame carrying `coreToken`.",
        )
        return None
    try:
        first = wire.decode_glasses_message(msg.data)
    except ProtocolError as error:
        _reject(conn, error.code, error.message, error.field)
        return None
    token = first.obj.get("coreToken") if first.type == "connection_init" else None
    try:
        user_id = verify_core_token(server.secret, token)
    except TokenError as error:
        server.metrics.inc("glasses_auth_failures", code=error.code.value)
        _reject(conn, error.code, error.message, "coreToken")
        return None
    if not server.user_limits.acquire(user_id):
        error = _too_many(user_id)
        _reject(conn, error.code, error.message)
        return None
    return user_id


def _reject(conn: WsConnection, code: ErrorCode, message: str, field: str | None = None) -> None:
    conn.send_text(wire.connection_error(code, message, _now(), field))
    conn.close(CloseCode.POLICY, "Authentication failed")


async def _serve(
    server: GlasscloudServer,
    conn: WsConnection,
    frames: AsyncIterator[WSMessage],
    user_id: str,
) -> None:
    # Fetched before the session exists, so the one connection_ack already lists the Apps
    # a new session brings back (as loading).
    try:
        session = await open_session(server, user_id)
    except ClusterUnavailable:
        error = unavailable()
        server.metrics.inc("glasses_errors", code=error.code.value)
        conn.send_text(wire.connection_error(error.code, error.message, _now()))
        conn.close(CloseCode.TRY_AGAIN_LATER, "Cluster unavailable")
        await conn.wait_closed()
        return
    assert session is not None
    session.attach_glasses(conn)
    session.log.info("glasses connected")
    sampler = server.prometheus.delivery_sampler  # 1 in N frames timed (server/metrics.py)
    countdown = sampler.every
    try:
        async for msg in frames:
            countdown -= 1
            started = 0.0 if countdown else perf_counter()
            if msg.type is WSMsgType.TEXT:
                _on_text(server, session, conn, msg.data)
            else:
                session.handle_glasses_audio(msg.data)
            if started:
                countdown = sampler.sampled(started)
    finally:
        session.glasses_closed(conn)


def _on_text(server: GlasscloudServer, session: UserSession, conn: WsConnection, text: str) -> None:
    try:
        msg = wire.decode_glasses_message(text)
    except ProtocolError as error:
        server.metrics.inc("glasses_errors", code=error.code.value)
        session.log.info("rejected glasses message: %s", error.message)
        conn.send_text(wire.connection_error(error.code, error.message, _now(), error.field))
        return
    if msg.type == "start_app":
        server.tasks.spawn(start_app(server, session, msg.obj["packageName"], conn))
        return
    session.handle_glasses_message(msg)


async def start_app(
    server: GlasscloudServer, session: UserSession, package_name: str, conn: WsConnection
) -> None:
    record = await server.app_records.get(package_name)
    error = None
    if record is None:
        error = package_not_found(package_name, "packageName")
    elif server.cluster is not None and not server.cluster.owns(session.user_id):
        error = session_moving(session.user_id)
    if error is not None:
        server.metrics.inc("glasses_errors", code=error.code.value)
        conn.send_text(wire.connection_error(error.code, error.message, _now(), error.field))
        return
    session.start_app(record)
