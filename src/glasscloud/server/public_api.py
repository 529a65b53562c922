"""Public App information the SDK reads without credentials.

GET /api/public/permissions/{packageName} -> {packageName, permissions: [{type, description}]}
    (the SDK's permission warnings read `permissions[].type`)
GET /api/instructions?packageName=&userId= -> {success, instructions: string|null}
    (`session.getInstructions()` reads `instructions`)
GET /api/sdk/version -> {success, data: {latest, required}}
    (AppServer.start() reads `data.latest`; 2.1.29 asks api.mentra.glass itself, so this
    answers other clients and later SDKs)
"""

from __future__ import annotations

from aiohttp import web

from glasscloud.protocol.errors import ErrorCode
from glasscloud.server.app_credentials import Refusal, refusals
from glasscloud.server.request_context import server_of

SDK_VERSION = "2.1.29"  # the @mentra/sdk version glasscloud speaks (tests/conformance)

PERMISSION_DESCRIPTIONS = {
    "MICROPHONE": "Audio and speech from the glasses' microphone (transcription, audio chunks).",
    "CAMERA": "Photos and video streams from the glasses' camera.",
    "LOCATION": "The phone's location.",
    "CALENDAR": "Calendar events from the phone.",
    "NOTIFICATIONS": "Notifications shown on the phone.",
    "READ_NOTIFICATIONS": "Notifications shown on the phone.",
    "POST_NOTIFICATIONS": "Posting notifications on the phone.",
    "ALL": "Every stream.",
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/public/permissions/{packageName}", permissions)
    app.router.add_get("/api/instructions", instructions)
    app.router.add_get("/api/sdk/version", sdk_version)


@refusals
async def permissions(request: web.Request) -> web.Response:
    package = request.match_info["packageName"]
    record = await server_of(request).store.get_app(package)
    if record is None:
        raise Refusal(
            404, ErrorCode.PACKAGE_NOT_FOUND, f"No App is registered as '{package}'.", "packageName"
        )
    return web.json_response(
        {
            "packageName": record.package_name,
            "permissions": [
                {"type": name, "description": PERMISSION_DESCRIPTIONS.get(name, "")}
                for name in record.permissions
            ],
        }
    )


@refusals
async def instructions(request: web.Request) -> web.Response:
    package = request.query.get("packageName", "")
    text = None
    if package:
        record = await server_of(request).store.get_app(package)
        if record is None:
            raise Refusal(
                404,
                ErrorCode.PACKAGE_NOT_FOUND,
                f"No App is registered as '{package}'.",
                "packageName",
            )
        text = getattr(record, "instructions", None) or None
    return web.json_response({"success": True, "instructions": text})


async def sdk_version(request: web.Request) -> web.Response:
    return web.json_response(
        {"success": True, "data": {"latest": SDK_VERSION, "required": SDK_VERSION}}
    )
