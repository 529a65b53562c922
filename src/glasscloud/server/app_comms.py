"""POST /api/app-communication/discover-users: the other users running the calling App now
(core/app_comms.py says who counts), for `session.discoverAppUsers(domain)`.

`Authorization: Bearer <apiKey>`, body `{packageName, userId?, includeUserProfiles?}` ->
`{users: [{userId, sessionId}], totalUsers}`. Profiles are never included.
"""

from __future__ import annotations

from aiohttp import web

from glasscloud.protocol import app_comms as wire
from glasscloud.protocol.errors import ErrorCode
from glasscloud.server.app_credentials import (
    Refusal,
    app_from_key,
    json_object,
    refusals,
    string_field,
)
from glasscloud.server.request_context import server_of


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/app-communication/discover-users", discover_users)


@refusals
async def discover_users(request: web.Request) -> web.Response:
    body = await json_object(request)
    package = string_field(body, "packageName", 256)
    record = await app_from_key(request, package)
    asking = body.get("userId", "")
    if not isinstance(asking, str):
        raise Refusal(400, ErrorCode.INVALID_FIELD, "`userId` must be a string.", "userId")
    if not isinstance(body.get("includeUserProfiles", False), bool):
        raise Refusal(
            400,
            ErrorCode.INVALID_FIELD,
            "`includeUserProfiles` must be true or false.",
            "includeUserProfiles",
        )
    hub = server_of(request).registry.services.app_comms
    users = hub.discover(record.package_name, asking.strip().lower())
    return web.json_response(wire.discovery(users))
