"""Who opened the App's webview: the checks the official SDK's `createAuthMiddleware` makes,
for a Python App server (aiohttp or anything with a query string).

    user = await webview_user(http, request.query, api_key=..., package_name=...,
                              public_key=os.environ.get("MENTRAOS_CLOUD_USER_TOKEN_PUBLIC_KEY"))

- `aos_signed_user_token`: verified offline (RS256, issuer, expiry + 120 s grace) with the
  cloud's public key (`glasscloud user-token-key`); with `package_name` its audience must be
  this App too (glasscloud sets it; the official SDK does not check it).
- `aos_temp_token`: exchanged once at `{cloudApiUrl}/api/auth/exchange-user-token` with the
  App's API key. `cloudApiUrl` from the query is used only when `cloudApiUrlChecksum` proves
  the cloud chose it (sha256(url + sha256hex(apiKey))); otherwise `default_cloud_url`.
- `aos_frontend_token` (or `Authorization: Bearer`): `userId:sha256(userId + sha256hex(apiKey))`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import aiohttp

from glasscloud.auth.webview import verify_signed_user_token
from glasscloud.sdk.errors import SdkError

DEFAULT_CLOUD_URL = "https://api.mentra.glass"


class WebviewAuthError(SdkError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message


def _key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def cloud_url_checksum(cloud_api_url: str, api_key: str) -> str:
    return hashlib.sha256((cloud_api_url + _key_hash(api_key)).encode("utf-8")).hexdigest()


def verify_frontend_token(token: str, api_key: str) -> str | None:
    user, sep, digest = token.rpartition(":")
    if not sep or not user:
        return None
    expected = hashlib.sha256((user + _key_hash(api_key)).encode("utf-8")).hexdigest()
    return user if hmac.compare_digest(expected, digest) else None


async def exchange_token(
    http: aiohttp.ClientSession,
    cloud_api_url: str,
    temp_token: str,
    api_key: str,
    package_name: str,
) -> str:
    """The user id for a temporary token; raises WebviewAuthError with the cloud's code."""
    url = f"{cloud_api_url.rstrip('/')}/api/auth/exchange-user-token"
    async with http.post(
        url,
        json={"aos_temp_token": temp_token, "packageName": package_name},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=aiohttp.ClientTimeout(total=10),
    ) as response:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = None
    if response.status == 200 and isinstance(body, dict) and body.get("success"):
        user = body.get("userId")
        if isinstance(user, str) and user:
            return user
    body = body if isinstance(body, dict) else {}
    raise WebviewAuthError(
        str(body.get("code") or response.status),
        str(body.get("error") or f"token exchange failed with status {response.status}"),
    )


async def webview_user(
    http: aiohttp.ClientSession,
    query: Mapping[str, str],
    *,
    api_key: str,
    package_name: str,
    public_key: str | None = None,
    authorization: str | None = None,
    default_cloud_url: str = DEFAULT_CLOUD_URL,
) -> str | None:
    """The signed-in user of a webview request, or None (the middleware's order)."""
    signed = query.get("aos_signed_user_token")
    if signed and public_key:
        user = verify_signed_user_token(public_key, signed, package_name)
        if user:
            return user
    temp = query.get("aos_temp_token")
    if temp:
        cloud = default_cloud_url
        requested = query.get("cloudApiUrl")
        checksum = query.get("cloudApiUrlChecksum") or ""
        if requested and hmac.compare_digest(cloud_url_checksum(requested, api_key), checksum):
            cloud = requested
        try:
            return await exchange_token(http, cloud, temp, api_key, package_name)
        except (WebviewAuthError, aiohttp.ClientError, TimeoutError):
            pass
    frontend = query.get("aos_frontend_token")
    if not frontend and authorization and authorization.startswith("Bearer "):
        frontend = authorization[len("Bearer ") :]
    if frontend:
        return verify_frontend_token(frontend, api_key)
    return None
