"""Webview sign-in routes (auth/webview.py has the tokens and why).

The phone (core token):
    POST /api/auth/generate-webview-token              {packageName} -> {success, token}
    POST /api/auth/generate-webview-signed-user-token  {packageName} -> {success, token}
    POST /api/auth/hash-with-api-key   {stringToHash, packageName} -> {success, hash}
The App's server (the SDK's createAuthMiddleware, `Authorization: Bearer <apiKey>`):
    POST /api/auth/exchange-user-token  {aos_temp_token, packageName} -> {success, userId}
An App operator (no auth; the key is public):
    GET  /api/auth/user-token-public-key -> {publicKey, algorithm, issuer}

Each is also served without the `/api` prefix, as the reference does. The SDK builds
`{cloudApiUrl}/api/auth/exchange-user-token` from the URL the phone passed, so the routes answer
on their path whatever scheme a TLS proxy in front used; the URL the phone passes is the
server's `--public-url` (GET /api/auth/webview-params returns it with its checksum).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from glasscloud.auth import webview
from glasscloud.auth.tokens import TokenError, verify_core_token
from glasscloud.core.records import AppRecord
from glasscloud.protocol.errors import ErrorCode
from glasscloud.server.app_credentials import (
    Refusal,
    app_from_key,
    json_object,
    refusals,
    string_field,
)
from glasscloud.server.request_context import bearer_token, server_of


class _KeyPair:
    """The server's user-token key pair, read from (or made in) the store on first use."""

    def __init__(self) -> None:
        self.private_pem: str | None = None
        self.public_pem: str | None = None
        self._lock = asyncio.Lock()

    async def load(self, request: web.Request) -> tuple[str, str]:
        if self.private_pem is None or self.public_pem is None:
            async with self._lock:
                if self.private_pem is None:
                    store = server_of(request).store
                    loop = asyncio.get_running_loop()
                    # Key generation takes ~50-200 ms of CPU: off the event loop.
                    fresh = await loop.run_in_executor(None, webview.generate_private_key_pem)
                    pem = await store.get_or_create_meta(webview.USER_TOKEN_KEY_META, lambda: fresh)
                    self.public_pem = webview.public_key_pem(pem)
                    self.private_pem = pem
        assert self.private_pem is not None and self.public_pem is not None
        return self.private_pem, self.public_pem


KEYS: web.AppKey[_KeyPair] = web.AppKey("glasscloud_user_token_keys")


def add_routes(app: web.Application) -> None:
    app[KEYS] = _KeyPair()
    for prefix in ("/api/auth", "/auth"):
        app.router.add_post(prefix + "/generate-webview-token", generate_webview_token)
        app.router.add_post(
            prefix + "/generate-webview-signed-user-token", generate_signed_user_token
        )
        app.router.add_post(prefix + "/hash-with-api-key", hash_with_api_key)
        app.router.add_post(prefix + "/exchange-user-token", exchange_user_token)
    app.router.add_get("/api/auth/user-token-public-key", user_token_public_key)
    app.router.add_get("/api/auth/webview-params", webview_params)


async def user_token_keys(request: web.Request) -> tuple[str, str]:
    return await request.app[KEYS].load(request)


def _phone_user(request: web.Request) -> str:
    token = bearer_token(request.headers.get("Authorization"))
    try:
        return verify_core_token(server_of(request).secret, token or None)
    except TokenError as error:
        raise Refusal(401, error.code, error.message, "Authorization") from None


async def _phone_request(request: web.Request) -> tuple[str, AppRecord, dict[str, Any]]:
    user = _phone_user(request)
    body = await json_object(request)
    package = string_field(body, "packageName", 256)
    record = await server_of(request).store.get_app(package)
    if record is None:
        raise Refusal(
            404, ErrorCode.PACKAGE_NOT_FOUND, f"No App is registered as '{package}'.", "packageName"
        )
    return user, record, body


@refusals
async def generate_webview_token(request: web.Request) -> web.Response:
    user, record, _ = await _phone_request(request)
    token = webview.new_temp_token()
    await server_of(request).store.add_webview_token(
        token, user, record.package_name, time.time() + webview.TEMP_TOKEN_TTL
    )
    server_of(request).metrics.inc("webview_tokens_issued")
    return web.json_response({"success": True, "token": token, "expiresIn": webview.TEMP_TOKEN_TTL})


@refusals
async def generate_signed_user_token(request: web.Request) -> web.Response:
    user, record, _ = await _phone_request(request)
    private_pem, _ = await user_token_keys(request)
    token = webview.issue_signed_user_token(
        private_pem, user, record.package_name, record.api_key_hash
    )
    return web.json_response({"success": True, "token": token})


@refusals
async def hash_with_api_key(request: web.Request) -> web.Response:
    _, record, body = await _phone_request(request)
    text = body.get("stringToHash")
    if not isinstance(text, str) or not text or len(text) > 4096:
        raise Refusal(
            400,
            ErrorCode.INVALID_FIELD,
            "`stringToHash` is required and must be a non-empty string.",
            "stringToHash",
        )
    return web.json_response(
        {"success": True, "hash": webview.hash_with_key_hash(text, record.api_key_hash)}
    )


@refusals
async def webview_params(request: web.Request) -> web.Response:
    """For the phone: the `cloudApiUrl` to pass and its checksum for an App."""
    _phone_user(request)
    package = request.query.get("packageName", "")
    record = await server_of(request).store.get_app(package) if package else None
    if record is None:
        raise Refusal(
            404, ErrorCode.PACKAGE_NOT_FOUND, f"No App is registered as '{package}'.", "packageName"
        )
    url = server_of(request).config.base_url
    return web.json_response(
        {
            "success": True,
            "cloudApiUrl": url,
            "cloudApiUrlChecksum": webview.hash_with_key_hash(url, record.api_key_hash),
            "webviewUrl": getattr(record, "webview_url", "") or "",
        }
    )


async def exchange_user_token(request: web.Request) -> web.Response:
    """The SDK shows `error` as text, so a refusal here is `{success: false, error: "<sentence>",
    code}` (docs/errors.md)."""
    try:
        body = await json_object(request)
        token = string_field(body, "aos_temp_token", 256)
        package = string_field(body, "packageName", 256)
        record = await app_from_key(request, package)
        grant = await server_of(request).store.take_webview_token(token, time.time())
        if grant is None or grant.package_name != record.package_name:
            server_of(request).metrics.inc("webview_exchanges_refused")
            raise Refusal(
                401,
                ErrorCode.WEBVIEW_TOKEN_INVALID,
                "The temporary token is unknown, expired, already used, or was issued for "
                "another App.",
                "aos_temp_token",
            )
    except Refusal as refusal:
        server_of(request).metrics.inc("http_errors", code=refusal.code)
        body = {"success": False, "error": refusal.message, "code": refusal.code}
        if refusal.field:
            body["field"] = refusal.field
        return web.json_response(body, status=refusal.status)
    return web.json_response({"success": True, "userId": grant.user_id})


async def user_token_public_key(request: web.Request) -> web.Response:
    _, public_pem = await user_token_keys(request)
    return web.json_response(
        {
            "publicKey": public_pem,
            "algorithm": webview.ALGORITHM,
            "issuer": webview.ISSUER,
            "environmentVariable": "MENTRAOS_CLOUD_USER_TOKEN_PUBLIC_KEY",
        }
    )
