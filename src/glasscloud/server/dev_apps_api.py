"""Developers manage a registered App (`Authorization: Bearer <developer token>`):

- `GET /api/dev/apps/{package}`: the App's record (never the key hash);
- `PATCH /api/dev/apps/{package}` (also `PUT`): change any of `name`, `publicUrl`, `appType`,
  `isSystemApp`, `permissions`, `settings`, `tools`, `webviewURL`; each validated as on
  registration (bounded, errors name the field). Sessions running the App keep the record
  they started with until the App's next start; settings changes are checked against the
  new schema at once;
- `DELETE /api/dev/apps/{package}`: unregister it and every user's state for it; it is
  stopped (reason `app_deleted`) in every live session.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import decode_body
from glasscloud.server.dev_api import _BODY_FIELDS, _developer, _invalid, _permissions, _refuse
from glasscloud.server.request_context import server_of
from glasscloud.store.errors import AppNotFound, StoreError

log = logging.getLogger("glasscloud.dev_api")

# Wire name -> Store.update_app argument.
UPDATABLE = {
    "name": "name",
    "publicUrl": "public_url",
    "appType": "app_type",
    "isSystemApp": "is_system",
    "permissions": "permissions",
    "settings": "settings_schema",
    "tools": "tools",
    "webviewURL": "webview_url",
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/dev/apps/{package}", get_app)
    app.router.add_patch("/api/dev/apps/{package}", update_app)
    app.router.add_put("/api/dev/apps/{package}", update_app)
    app.router.add_delete("/api/dev/apps/{package}", delete_app)


def _view(record: Any) -> dict[str, Any]:
    return {**record.public_view(), "keyVersion": record.key_version}


async def get_app(request: web.Request) -> web.Response:
    _developer(request)
    package = request.match_info["package"]
    record = await server_of(request).store.get_app(package)
    if record is None:
        return _refuse(request, package_not_found(package))
    return web.json_response({"app": _view(record)})


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    """The body's changes as Store.update_app arguments (shapes checked here, values by the
    store's validation)."""
    changes: dict[str, Any] = {}
    for wire, name in UPDATABLE.items():
        if wire not in body:
            continue
        value = body[wire]
        if wire == "isSystemApp" and not isinstance(value, bool):
            raise _invalid("`isSystemApp` must be true or false.", wire)
        if wire in ("settings", "tools") and not isinstance(value, list):
            raise _invalid(f"`{wire}` must be an array.", wire)
        if wire == "permissions":
            value = _permissions(value)
        changes[name] = "" if (wire == "webviewURL" and value is None) else value
    if not changes:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD, f"Nothing to change: send one of {', '.join(UPDATABLE)}."
        )
    return changes


async def update_app(request: web.Request) -> web.Response:
    developer = _developer(request)
    server = server_of(request)
    package = request.match_info["package"]
    try:
        body = decode_body(await request.read())
        changes = _changes(body)
    except ProtocolError as error:
        return _refuse(request, error)
    ignored = sorted(set(body) - set(UPDATABLE) - {"packageName"})
    try:
        record = await server.store.update_app(package, **changes)
    except AppNotFound:
        return _refuse(request, package_not_found(package))
    except StoreError as error:
        field = _BODY_FIELDS.get(error.field or "", error.field)
        return _refuse(request, ProtocolError(ErrorCode.INVALID_FIELD, error.message, field))
    finally:
        server.app_records.invalidate(package)
    await server.app_changed("app_changed", package)
    log.info(
        "App updated",
        extra={"developer": developer, "packageName": package, "fields": sorted(changes)},
    )
    return web.json_response({"app": _view(record), "ignored": ignored})


async def delete_app(request: web.Request) -> web.Response:
    developer = _developer(request)
    server = server_of(request)
    package = request.match_info["package"]
    try:
        await server.store.delete_app(package)
    except AppNotFound:
        return _refuse(request, package_not_found(package))
    finally:
        server.app_records.invalidate(package)
    stopped = server.stop_everywhere(package)
    await server.app_changed("app_deleted", package)  # the other nodes stop it too
    for user_id in stopped:
        await server.effects.running_apps_settled(
            user_id, server.config.timings.stop_webhook_timeout
        )
    log.info(
        "App deleted",
        extra={"developer": developer, "packageName": package, "stoppedFor": len(stopped)},
    )
    return web.json_response({"deleted": package, "stoppedSessions": len(stopped)})
