"""How the platform-service routes (Simple Storage, webview sign-in, App communication) know
which App is calling, and how they refuse: one JSON shape with a code, a sentence and the
field, as docs/errors.md lists.

The SDK authenticates these calls with the App's raw API key, in two spellings:
`Authorization: Bearer <package>:<apiKey>` (SimpleStorage) and `Authorization: Bearer <apiKey>`
with the package named in the body (`exchange-user-token`, `discover-users`). Either way the
key must be the named App's current key; anything else (no such App, another App's key, a
rotated key) is one answer, 401 INVALID_API_KEY, so a caller learns nothing about which
packages exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from glasscloud.auth.apikeys import verify_api_key
from glasscloud.core.metrics import Metrics
from glasscloud.core.records import AppRecord
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import decode_body
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.request_context import bearer_token, server_of


class Refusal(Exception):
    """Raised by the helpers below; `response()` is what the handler answers (the phone
    envelope of server/http_errors.py, with the field)."""

    def __init__(
        self, status: int, code: ErrorCode | str, message: str, field: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = ProtocolError(ErrorCode(code), message, field)

    @property
    def code(self) -> str:
        return self.error.code.value

    @property
    def message(self) -> str:
        return self.error.message

    @property
    def field(self) -> str | None:
        return self.error.field

    def response(self, metrics: Metrics | None = None) -> web.Response:
        return error_response(self.error, Envelope.PHONE, metrics, self.status)


def refusals(handler: Any) -> Any:
    """Decorator: a `Refusal` raised inside the handler becomes its JSON answer."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refusal as refusal:
            return refusal.response(server_of(request).metrics)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object (depth-limited, as every body), or a 400 MALFORMED_MESSAGE."""
    try:
        return decode_body(await request.read())
    except ProtocolError as error:
        raise Refusal(400, error.code, error.message, "body") from None


def string_field(body: dict[str, Any], name: str, max_len: int = 2048) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise Refusal(
            400,
            ErrorCode.INVALID_FIELD,
            f"`{name}` is required and must be a non-empty string.",
            name,
        )
    return value.strip()


def _bad_key() -> Refusal:
    return Refusal(
        401,
        ErrorCode.INVALID_API_KEY,
        "No App matches these credentials (unknown package, or not its current API key).",
        "Authorization",
    )


async def authenticate_app(request: web.Request, package_name: str, api_key: str) -> AppRecord:
    """The App whose current key `api_key` is, if it is `package_name`; else 401."""
    if not package_name or not api_key:
        raise _bad_key()
    record = await server_of(request).store.get_app(package_name)
    if record is None or not verify_api_key(api_key, record.api_key_hash):
        server_of(request).metrics.inc("app_auth_failures", code="INVALID_API_KEY")
        raise _bad_key()
    return record


def _raw_bearer(request: web.Request) -> str:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Refusal(
            401,
            ErrorCode.MISSING_TOKEN,
            "Send Authorization: Bearer <apiKey> (Simple Storage: Bearer <package>:<apiKey>).",
            "Authorization",
        )
    return token


async def app_from_package_key(request: web.Request) -> AppRecord:
    """`Authorization: Bearer <package>:<apiKey>`, as the SDK's SimpleStorage sends it."""
    package_name, _, api_key = _raw_bearer(request).partition(":")
    return await authenticate_app(request, package_name, api_key)


async def app_from_key(request: web.Request, package_name: str) -> AppRecord:
    """`Authorization: Bearer <apiKey>` of the App named `package_name` (from the body)."""
    return await authenticate_app(request, package_name, _raw_bearer(request))
