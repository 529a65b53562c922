"""AI tools over REST (`/api/tools/...`), as the reference cloud mounts them, but
authenticated: the user's core token (acting for that user only) or a developer token.

- `POST /api/tools/apps/{package}/tool` `{toolId, toolParameters, userId, timestamp}`: checked
  (core/app_tools.py), forwarded to `{publicUrl}/tool` (the SDK's AppServer attaches the
  user's live session by `userId`), and the App's answer returned (`{status, reply}`); a slow,
  failing or oversized answer is a coded refusal.
- `GET /api/tools/apps/{package}/tools`: the tools the App declared.
- `GET /api/tools/users/{userId}/tools`: the tools of the user's Apps, with `appPackageName`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from glasscloud.auth.tokens import TokenError, verify_core_token
from glasscloud.core import app_tools
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import decode_body, iso_timestamp
from glasscloud.server import app_calls
from glasscloud.server.http_errors import Envelope, error_exception, error_response
from glasscloud.server.request_context import bearer_token, server_of

TOOL_CALL_TIMEOUT = 10.0


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/tools/apps/{package}/tool", call_tool)
    app.router.add_get("/api/tools/apps/{package}/tools", app_tool_list)
    app.router.add_get("/api/tools/users/{user}/tools", user_tool_list)


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str | None  # None: a developer token (acts for any user)
    developer: str | None = None


def _caller(request: web.Request) -> Caller:
    """A developer token, else the user's core token; a 401 (phone envelope) otherwise."""
    server = server_of(request)
    token = bearer_token(request.headers.get("Authorization"))
    try:
        return Caller(None, server.dev_tokens.verify(token or None))
    except TokenError:
        pass
    try:
        return Caller(verify_core_token(server.secret, token or None))
    except TokenError as error:
        raise error_exception(error.as_protocol_error(), Envelope.PHONE, server.metrics) from None


def _refusal(request: web.Request, error: ProtocolError) -> web.Response:
    """The phone envelope, `{"success": false, "error": {code, message, field?}}`."""
    return error_response(error, Envelope.PHONE, server_of(request).metrics)


def _field(message: str, field: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, message, field)


async def _users_apps(request: web.Request, user_id: str) -> set[str]:
    """The Apps the user runs now, ran before, or configured."""
    server = server_of(request)
    packages = set(await server.store.user_packages(user_id))
    session = server.registry.get(user_id)
    if session is not None:
        packages.update(session.apps)
    return packages


async def call_tool(request: web.Request) -> web.Response:
    caller = _caller(request)
    server = server_of(request)
    package = request.match_info["package"]
    record = await server.store.get_app(package)
    if record is None:
        return _refusal(request, package_not_found(package))
    try:
        body = decode_body(await request.read())
    except ProtocolError as error:
        return _refusal(request, error)
    tool_id, user_id = body.get("toolId"), body.get("userId")
    parameters = body.get("toolParameters", {})
    try:
        if not isinstance(tool_id, str) or not tool_id:
            raise _field("`toolId` is required and must be a string.", "toolId")
        if not isinstance(user_id, str) or not user_id.strip():
            raise _field("`userId` is required and must be a string.", "userId")
        if not isinstance(parameters, dict):
            raise _field("`toolParameters` must be an object.", "toolParameters")
        user_id = user_id.strip().lower()
        app_tools.may_call(caller.user_id, user_id, await _users_apps(request, user_id), package)
        app_tools.check_call(record, tool_id, parameters)
    except ProtocolError as error:
        server.metrics.inc("tool_calls_refused", code=error.code.value)
        return _refusal(request, error)
    timestamp = body.get("timestamp")
    if not isinstance(timestamp, str):
        timestamp = iso_timestamp(server.registry.services.clock.wall())
    answer = await app_calls.post_json(
        request.app,
        record.public_url.rstrip("/") + "/tool",
        app_wire.tool_call(tool_id, parameters, user_id, timestamp),
        TOOL_CALL_TIMEOUT,
    )
    if not answer.ok:
        assert answer.code is not None
        server.metrics.inc("tool_calls_failed", code=answer.code.value)
        return _refusal(
            request, ProtocolError(answer.code, f"Tool '{tool_id}' of {package}: {answer.message}.")
        )
    server.metrics.inc("tool_calls_ok")
    return web.json_response(answer.data)


async def app_tool_list(request: web.Request) -> web.Response:
    _caller(request)
    package = request.match_info["package"]
    record = await server_of(request).store.get_app(package)
    if record is None:
        return _refusal(request, package_not_found(package))
    return web.json_response(list(record.tools))


async def user_tool_list(request: web.Request) -> web.Response:
    caller = _caller(request)
    user_id = request.match_info["user"].strip().lower()
    if caller.user_id is not None and caller.user_id != user_id:
        return _refusal(
            request,
            ProtocolError(
                ErrorCode.USER_MISMATCH,
                f"This core token belongs to {caller.user_id}; it cannot list {user_id}'s tools.",
                "userId",
            ),
        )
    store = server_of(request).store
    records = [
        r for p in sorted(await _users_apps(request, user_id)) if (r := await store.get_app(p))
    ]
    return web.json_response(app_tools.user_tools(records))
