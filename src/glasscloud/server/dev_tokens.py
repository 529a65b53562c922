"""Developer tokens on the running server: verification with revocation, and the developer
API to list and revoke them (`GET /api/dev/tokens`, `DELETE /api/dev/tokens/{id}`).

A token's signature, kind and expiry are checked from the token alone; revocation against a
set of revoked ids kept in memory and re-read from the database every `interval` seconds
(the key-check interval, 2 s), like `revocation.py` does for App keys: a revocation made by
another process (`glasscloud dev-token revoke ID` writes the shared database) takes effect
here within one interval, one made through this server's API at once. A failed refresh
keeps the last set (logged). Tokens without an id (issued before ids existed) cannot be
revoked one by one; they stop working only with a new secret.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from glasscloud.auth.app_tokens import developer_token_claims
from glasscloud.auth.tokens import TokenError
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.server.background import cancel_and_wait
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.request_context import server_of
from glasscloud.store.dev_tokens import DeveloperTokenNotFound

log = logging.getLogger("glasscloud.dev_tokens")

RevokedIds = Callable[[], Awaitable[set[str]]]


class DeveloperTokens:
    def __init__(self, secret: str, revoked_ids: RevokedIds, interval: float) -> None:
        self._secret = secret
        self._revoked_ids = revoked_ids
        self._interval = interval
        self.revoked: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def verify(self, token: str | None, now: float | None = None) -> str:
        """The developer's e-mail; TokenError if the token is bad, expired or revoked."""
        claims = developer_token_claims(self._secret, token, now)
        if claims.token_id is not None and claims.token_id in self.revoked:
            raise TokenError(
                ErrorCode.DEVELOPER_TOKEN_REVOKED,
                f"The developer token {claims.token_id} was revoked.",
            )
        return claims.email

    def revoked_here(self, token_id: str) -> None:
        self.revoked.add(token_id)

    async def refresh(self) -> None:
        self.revoked = await self._revoked_ids()

    async def start(self) -> None:
        """Read the set once (a token revoked before the start is refused from the first
        request), then keep it fresh."""
        try:
            await self.refresh()
        except Exception:
            log.warning("could not read the revoked developer tokens", exc_info=True)
        if self._task is None and self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:  # keep the last set; a database hiccup must not end the checks
                log.warning("could not refresh the revoked developer tokens", exc_info=True)


# -- developer API ---------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/dev/tokens", list_tokens)
    app.router.add_delete("/api/dev/tokens/{token_id}", revoke_token)


async def list_tokens(request: web.Request) -> web.Response:
    from glasscloud.server.dev_api import _developer

    _developer(request)
    now = time.time()
    records = await server_of(request).store.list_developer_tokens()
    return web.json_response({"tokens": [r.as_json(now) for r in records]})


async def revoke_token(request: web.Request) -> web.Response:
    from glasscloud.server.dev_api import _developer

    developer = _developer(request)
    server = server_of(request)
    token_id = request.match_info["token_id"]
    try:
        await server.store.revoke_developer_token(token_id)
    except DeveloperTokenNotFound as error:
        error = ProtocolError(ErrorCode.INVALID_FIELD, error.message, "id")
        return error_response(error, Envelope.DEVELOPER, server.metrics, status=404)
    server.dev_tokens.revoked_here(token_id)
    log.info("developer token revoked", extra={"developer": developer, "tokenId": token_id})
    return web.json_response({"id": token_id, "revoked": True})
