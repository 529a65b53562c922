"""`/app-ws`: App connections, authenticated by their first frame `tpa_connection_init`
(packageName + apiKey), as the unmodified SDK does. After that the socket IS the App: nothing
inside later messages can change who it acts as."""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from glasscloud.auth.apikeys import verify_api_key
from glasscloud.core.session import UserSession
from glasscloud.protocol import app as wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.server.connection import WsConnection

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer

log = logging.getLogger("glasscloud.apps")


def _now() -> str:
    return iso_timestamp(time.time())


async def handle(request: web.Request) -> web.StreamResponse:
    from glasscloud.server.app import SERVER_KEY

    server = request.app[SERVER_KEY]
    ws = web.WebSocketResponse(
        heartbeat=server.config.timings.ping_interval,
        max_msg_size=server.config.max_message_bytes,
        compress=False,
    )
    await ws.prepare(request)
    conn = WsConnection(ws, server.config.app_send_queue, server.metrics, "app")
    server.connections.add(conn)
    try:
        bound = await _authenticate(server, request, ws, conn)
        if bound is None:
            await conn.wait_closed()
            return ws
        session = bound
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    session.handle_app_text(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    session.handle_app_binary(conn)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            session.app_closed(conn, ws.close_code, "")
    finally:
        server.connections.discard(conn)
        conn.finish()
    return ws


async def _authenticate(
    server: GlasscloudServer,
    request: web.Request,
    ws: web.WebSocketResponse,
    conn: WsConnection,
) -> UserSession | None:
    try:
        msg = await ws.receive(timeout=server.config.timings.auth_timeout)
    except TimeoutError:
        _reject(
            server,
            conn,
            ProtocolError(
                ErrorCode.AUTH_TIMEOUT,
                "No tpa_connection_init within "
                f"{server.config.timings.auth_timeout:g} s of connecting.",
            ),
        )
        return None
    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
        return None
    try:
        if msg.type is not WSMsgType.TEXT:
            raise ProtocolError(
                ErrorCode.MALFORMED_MESSAGE,
                "The first frame must be a tpa_connection_init text frame.",
            )
        init = wire.decode_app_message(msg.data)
        if init.type != "tpa_connection_init":
            raise ProtocolError(
                ErrorCode.MALFORMED_MESSAGE,
                f"The first message must be tpa_connection_init, got '{init.type}'.",
                "type",
            )
        return await _bind(server, request, conn, init.obj)
    except ProtocolError as error:
        _reject(server, conn, error)
        return None


async def _bind(
    server: GlasscloudServer,
    request: web.Request,
    conn: WsConnection,
    init: dict[str, object],
) -> UserSession:
    package_name = str(init["packageName"])
    try:
        record = await server.store.get_app(package_name)
    except Exception as exc:  # fail closed when the App record cannot be read
        log.exception("could not read App record", extra={"packageName": package_name})
        raise ProtocolError(
            ErrorCode.INTERNAL_ERROR, "The App record could not be read; try again."
        ) from exc
    if record is None:
        raise ProtocolError(
            ErrorCode.PACKAGE_NOT_FOUND,
            f"No App is registered as '{package_name}'.",
            "packageName",
        )
    if not verify_api_key(str(init["apiKey"]), record.api_key_hash):
        raise ProtocolError(
            ErrorCode.INVALID_API_KEY, f"Invalid API key for {package_name}.", "apiKey"
        )
    if record.is_system and not _from_system_network(server, request):
        raise ProtocolError(
            ErrorCode.SYSTEM_APP_NETWORK,
            f"{package_name} is a system App; its key is accepted only from the networks "
            "in --system-networks.",
        )
    user_id = wire.user_id_from_session_id(str(init["sessionId"]), package_name)
    if user_id is None:
        raise ProtocolError(
            ErrorCode.MALFORMED_MESSAGE,
            f"sessionId must be '<userId>-{package_name}' as sent in session_request.",
            "sessionId",
        )
    session = server.registry.get(user_id)
    if session is None:
        raise ProtocolError(
            ErrorCode.SESSION_NOT_FOUND,
            f"No live session for {user_id}; the user's glasses are not connected.",
            "sessionId",
        )
    stored = await server.store.get_app_settings(user_id, package_name)
    error = session.bind_app(record, conn, stored)
    if error is not None:
        raise error
    return session


def _from_system_network(server: GlasscloudServer, request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        address = ipaddress.ip_address(peer.removeprefix("::ffff:"))
    except ValueError:
        return False
    return any(address in network for network in server.config.system_network_objects())


def _reject(server: GlasscloudServer, conn: WsConnection, error: ProtocolError) -> None:
    """`tpa_connection_error` with code and sentence, then close 1008 (the SDK does not
    retry an init rejection)."""
    server.metrics.inc("app_auth_failures", code=error.code.value)
    log.info("App connection refused: %s (%s)", error.message, error.code.value)
    conn.send_text(wire.connection_error(error.code, error.message, _now(), error.field))
    conn.close(1008, error.message)
