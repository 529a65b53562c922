"""`/app-ws`: App connections.

Two ways in, one set of checks and error codes:
- at the upgrade: `Authorization: Bearer <app token>` plus `X-Session-Id` (or `?sessionId=`),
  refused before the upgrade with an HTTP status and `{"error": {code, message, hint}}`;
- by the first frame `tpa_connection_init` (packageName + apiKey), as the unmodified SDK
  does, refused with `tpa_connection_error` (same codes) and close 1008.
After that the socket IS the App: nothing inside later messages changes who it acts as.
Each admitted socket is recorded with the key version it proved, so that rotating the key
closes it (server/revocation.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from glasscloud.auth.apikeys import verify_api_key
from glasscloud.auth.app_tokens import verify_app_token
from glasscloud.auth.tokens import TokenError
from glasscloud.core.records import AppRecord
from glasscloud.core.session import UserSession
from glasscloud.protocol import app as wire
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.server.connection import WsConnection
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.inbound import accept
from glasscloud.server.request_context import bearer_token, server_of
from glasscloud.server.session_settings import stored_settings_for_bind
from glasscloud.server.sessions import ClusterUnavailable, open_session, unavailable

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer

log = logging.getLogger("glasscloud.apps")


def _now() -> str:
    return iso_timestamp(time.time())


@dataclass
class Admission:
    """An App that passed every check and may be bound to a socket."""

    record: AppRecord
    session: UserSession
    user_id: str
    # the key version the App proved (its API key's, or its token's `kv`)
    key_version: int


async def handle(request: web.Request) -> web.StreamResponse:
    server = server_of(request)
    admitted: Admission | None = None
    if request.headers.get("Authorization") is not None:
        try:
            admitted = await _admit_by_token(server, request)
        except ProtocolError as error:
            server.metrics.inc("app_auth_failures", code=error.code.value)
            return refusal(error)
        if not server.user_limits.acquire(admitted.user_id):
            return refusal(_too_many(admitted.user_id))

    sock = await accept(
        request,
        server.config,
        server.user_limits,
        server.metrics,
        "app",
        _error_frame,
        admitted.user_id if admitted else None,
    )
    ws, conn, guard, frames = sock.ws, sock.conn, sock.guard, sock.frames
    loop = asyncio.get_running_loop()
    server.connections.add(conn)
    user_id = admitted.user_id if admitted else None
    try:
        if admitted is None:
            admitted = await _admit_by_message(server, request, conn, frames)
            if admitted is None:
                await conn.wait_closed()
                return ws
            user_id = admitted.user_id
        session = admitted.session
        conn.stats.user_id = user_id
        conn.stats.package_name = admitted.record.package_name
        server.connection_guard.authenticated(request.transport)
        server.revocations.admitted(conn, admitted.record.package_name, admitted.key_version)
        guard.bind_user(admitted.user_id, loop.time())
        stored = await stored_settings_for_bind(
            server, session, admitted.user_id, admitted.record.package_name
        )
        error = session.bind_app(admitted.record, conn, stored)
        if error is not None:
            _reject(server, conn, error)
            await conn.wait_closed()
            return ws
        try:
            async for msg in frames:
                if msg.type is WSMsgType.TEXT:
                    session.handle_app_text(conn, msg.data)
                else:
                    session.handle_app_binary(conn)
        finally:
            session.app_closed(conn, ws.close_code, conn.stats.disconnect_reason or "")
    finally:
        server.connection_closed(conn, user_id)
    return ws


def refusal(error: ProtocolError) -> web.Response:
    """A refusal before the upgrade: HTTP status + `{"error": {code, message, hint}}`."""
    return error_response(error, Envelope.DEVELOPER)


def _too_many(user_id: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.TOO_MANY_CONNECTIONS, f"{user_id} has too many open connections."
    )


async def _admit_by_token(server: GlasscloudServer, request: web.Request) -> Admission:
    token = bearer_token(request.headers.get("Authorization"))
    try:
        claims = verify_app_token(server.secret, token or None)
    except TokenError as error:
        raise error.as_protocol_error() from None
    session_id = request.headers.get("X-Session-Id") or request.query.get("sessionId")
    user_header = request.headers.get("X-User-Id") or request.query.get("userId")
    if not session_id and user_header:
        session_id = wire.app_session_id(user_header, claims.package_name)
    if not session_id:
        raise ProtocolError(
            ErrorCode.MISSING_SESSION_ID,
            "Header authentication needs the user session: X-Session-Id (or ?sessionId=).",
            "X-Session-Id",
        )
    record = await _load_record(server, claims.package_name)
    if claims.key_version != record.key_version:
        raise ProtocolError(
            ErrorCode.TOKEN_REVOKED,
            f"This token was issued before {record.package_name}'s key was rotated.",
        )
    return await _admit(server, request, record, session_id, claims.key_version)


async def _admit_by_message(
    server: GlasscloudServer,
    request: web.Request,
    conn: WsConnection,
    frames: object,
) -> Admission | None:
    """The SDK way: the first frame is `tpa_connection_init`."""
    try:
        msg = await asyncio.wait_for(
            anext(frames),  # type: ignore[call-overload]
            server.config.timings.auth_timeout,
        )
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
    except StopAsyncIteration:
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
        record = await _load_record(server, str(init.obj["packageName"]), "packageName")
        if not verify_api_key(str(init.obj["apiKey"]), record.api_key_hash):
            raise ProtocolError(
                ErrorCode.INVALID_API_KEY,
                f"Invalid API key for {record.package_name}.",
                "apiKey",
            )
        admitted = await _admit(
            server, request, record, str(init.obj["sessionId"]), record.key_version
        )
    except ProtocolError as error:
        _reject(server, conn, error)
        return None
    if not server.user_limits.acquire(admitted.user_id):
        _reject(server, conn, _too_many(admitted.user_id))
        return None
    return admitted


async def _load_record(
    server: GlasscloudServer, package_name: str, field: str | None = None
) -> AppRecord:
    try:
        record = await server.app_records.get(package_name)
    except Exception as exc:  # fail closed when the App record cannot be read
        log.exception("could not read App record", extra={"packageName": package_name})
        raise ProtocolError(
            ErrorCode.INTERNAL_ERROR, "The App record could not be read; try again."
        ) from exc
    if record is None:
        raise package_not_found(package_name, field)
    return record


async def _admit(
    server: GlasscloudServer,
    request: web.Request,
    record: AppRecord,
    session_id: str,
    key_version: int,
) -> Admission:
    """The checks both ways in share: system network, session id, live session."""
    package_name = record.package_name
    if record.is_system and not _from_system_network(server, request):
        raise ProtocolError(
            ErrorCode.SYSTEM_APP_NETWORK,
            f"{package_name} is a system App; its key is accepted only from the networks "
            "in --system-networks.",
        )
    user_id = wire.user_id_from_session_id(session_id, package_name)
    if user_id is None:
        raise ProtocolError(
            ErrorCode.PACKAGE_MISMATCH,
            f"sessionId must be '<userId>-{package_name}' as sent in session_request; an "
            "App can only join its own sessions.",
            "sessionId",
        )
    # After a restart the SDK reconnects (1 s, 2 s, 4 s), maybe before the glasses are back:
    # if the user was running this App, its session opens now.
    try:
        session = await open_session(server, user_id, for_app=package_name)
    except ClusterUnavailable:
        raise unavailable() from None
    if session is None:
        raise ProtocolError(
            ErrorCode.SESSION_NOT_FOUND,
            f"No live session for {user_id}; the user's glasses are not connected.",
            "sessionId",
        )
    if session.app_state(package_name) is None:
        raise ProtocolError(
            ErrorCode.APP_NOT_STARTED,
            f"{package_name} is not started for this user; start it from the glasses or "
            "POST /apps/{package}/start first.",
        )
    return Admission(record, session, user_id, key_version)


def _from_system_network(server: GlasscloudServer, request: web.Request) -> bool:
    peer = request.remote or ""
    try:
        address = ipaddress.ip_address(peer.removeprefix("::ffff:"))
    except ValueError:
        return False
    return any(address in network for network in server.config.system_network_objects())


def _error_frame(error: ProtocolError) -> str:
    return wire.connection_error(error.code, error.message, _now(), error.field)


def _reject(server: GlasscloudServer, conn: WsConnection, error: ProtocolError) -> None:
    """`tpa_connection_error` with code and sentence, then close 1008 (the SDK does not
    retry an init rejection)."""
    server.metrics.inc("app_auth_failures", code=error.code.value)
    log.info("App connection refused: %s (%s)", error.message, error.code.value)
    conn.send_text(_error_frame(error))
    conn.close(CloseCode.POLICY, error.message)
