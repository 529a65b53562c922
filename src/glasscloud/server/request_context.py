"""What every HTTP and WebSocket handler takes from its request: the server that owns it,
the bearer token it carries, and whether another cluster node sent it on (a header every
node understands, so single-node code can read it without importing the cluster)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from glasscloud.auth.tokens import TokenError, verify_core_token
from glasscloud.server.http_errors import Envelope, error_exception

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer

SERVER_KEY: web.AppKey[GlasscloudServer] = web.AppKey("glasscloud_server")

FORWARDED_BY = "X-Glasscloud-Forwarded-By"  # on a request a node sent on: the sending node


def was_forwarded(request: web.Request) -> bool:
    """Sent on by another node (cluster/forwarding.py): answer here, never send it on again."""
    return FORWARDED_BY in request.headers


def server_of(request: web.Request) -> GlasscloudServer:
    return request.app[SERVER_KEY]


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive);
    "" for another scheme, None without a header."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


def core_token_user(request: web.Request) -> str:
    """The user of a phone request (`Authorization: Bearer <core token>`); anything else
    is answered 401 in the phone envelope."""
    server = server_of(request)
    token = bearer_token(request.headers.get("Authorization"))
    try:
        return verify_core_token(server.secret, token or None)
    except TokenError as error:
        raise error_exception(error.as_protocol_error(), Envelope.PHONE, server.metrics) from None
