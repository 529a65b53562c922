"""The developer REST API (`/api/dev/...`) and the operator's status routes
(`/api/admin/...`; `/metrics` is in `server/metrics.py`). Both take
`Authorization: Bearer <developer token>` (`glasscloud dev-token EMAIL`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from glasscloud.auth.app_tokens import issue_app_token
from glasscloud.auth.tokens import TokenError
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import decode_body, iso_timestamp
from glasscloud.server.http_errors import Envelope, error_exception, error_response
from glasscloud.server.request_context import bearer_token, server_of
from glasscloud.server.session_views import session_summary
from glasscloud.store.errors import AppExists, AppNotFound, StoreError

log = logging.getLogger("glasscloud.dev_api")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/dev/apps", list_apps)
    app.router.add_post("/api/dev/apps", register_app)
    app.router.add_post("/api/dev/apps/{package}/api-key", rotate_key)
    app.router.add_get("/api/dev/apps/{package}/token", app_token)
    app.router.add_get("/api/admin/sessions", sessions)
    app.router.add_get("/api/admin/metrics", metrics_json)
    app.router.add_get("/api/admin/cluster", cluster_status)


def _refuse(request: web.Request, error: ProtocolError) -> web.Response:
    return error_response(error, Envelope.DEVELOPER, server_of(request).metrics)


def _developer(request: web.Request) -> str:
    server = server_of(request)
    token = bearer_token(request.headers.get("Authorization"))
    try:
        return server.dev_tokens.verify(token or None)
    except TokenError as error:
        raise error_exception(
            error.as_protocol_error(), Envelope.DEVELOPER, server.metrics
        ) from None


# Store field names -> the request body's.
_BODY_FIELDS = {
    "package_name": "packageName",
    "public_url": "publicUrl",
    "app_type": "appType",
    "settings_schema": "settings",
}


def _invalid(message: str, field: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, message, field)


async def list_apps(request: web.Request) -> web.Response:
    _developer(request)
    records = await server_of(request).store.list_apps()
    return web.json_response(
        {"apps": [{**r.public_view(), "keyVersion": r.key_version} for r in records]}
    )


def _permissions(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _invalid("`permissions` must be an array of permission names.", "permissions")
    out = []
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            item = item.get("type")
        if not isinstance(item, str):
            raise _invalid(
                'each permission must be a string or {"type": ...}.', f"permissions[{index}]"
            )
        out.append(item)
    return out


async def register_app(request: web.Request) -> web.Response:
    developer = _developer(request)
    server = server_of(request)
    try:
        body = decode_body(await request.read())
        for field in ("packageName", "name", "publicUrl"):
            if not isinstance(body.get(field), str):
                raise _invalid(f"`{field}` is required and must be a string.", field)
        settings = body.get("settings") or []
        if not isinstance(settings, list):
            raise _invalid("`settings` must be an array.", "settings")
        permissions = _permissions(body.get("permissions"))
    except ProtocolError as error:
        return _refuse(request, error)
    try:
        record, key = await server.store.create_app(
            body["packageName"],
            body["name"],
            body["publicUrl"],
            app_type=str(body.get("appType") or "background"),
            is_system=bool(body.get("isSystemApp", False)),
            permissions=permissions,
            settings_schema=settings,
            tools=body.get("tools") or [],
            webview_url=body.get("webviewURL") or "",
        )
    except AppExists as error:
        return _refuse(request, ProtocolError(ErrorCode.APP_EXISTS, error.message, "packageName"))
    except StoreError as error:
        field = _BODY_FIELDS.get(error.field or "", error.field)
        return _refuse(request, ProtocolError(ErrorCode.INVALID_FIELD, error.message, field))
    finally:
        server.app_records.invalidate(body["packageName"])
    server.metrics.inc("apps_registered")
    log.info("App registered", extra={"developer": developer, "packageName": record.package_name})
    return web.json_response(
        {"app": {**record.public_view(), "keyVersion": record.key_version}, "apiKey": key},
        status=201,
    )


async def rotate_key(request: web.Request) -> web.Response:
    _developer(request)
    server = server_of(request)
    package = request.match_info["package"]
    try:
        key = await server.store.rotate_api_key(package)
    except AppNotFound:
        return _refuse(request, package_not_found(package))
    finally:
        server.app_records.invalidate(package)  # the old key is refused from now on
    record = await server.store.get_app(package)
    if record is not None:
        server.revocations.key_rotated(package, record.key_version)
    await server.app_changed("key_rotated", package)
    return web.json_response(
        {
            "packageName": package,
            "apiKey": key,
            "keyVersion": record.key_version if record else None,
            "createdAt": iso_timestamp(time.time()),
        }
    )


async def app_token(request: web.Request) -> web.Response:
    _developer(request)
    server = server_of(request)
    package = request.match_info["package"]
    record = await server.store.get_app(package)
    if record is None:
        return _refuse(request, package_not_found(package))
    return web.json_response(
        {
            "packageName": package,
            "keyVersion": record.key_version,
            "token": issue_app_token(server.secret, package, record.key_version),
        }
    )


async def sessions(request: web.Request) -> web.Response:
    """Live sessions, their Apps, and per-connection statistics (open and recently closed)."""
    _developer(request)
    server = server_of(request)
    if server.cluster is not None:
        live = await server.cluster.cluster_sessions()
    else:
        live = [session_summary(session) for session in server.registry]
    return web.json_response(
        {
            "sessions": live,
            "connections": [c.stats.as_json() for c in server.connections],
            "recentlyClosed": [s.as_json() for s in list(server.closed_stats)[-50:]],
        }
    )


async def metrics_json(request: web.Request) -> web.Response:
    _developer(request)
    server = server_of(request)
    return web.json_response(
        {
            "sessions": len(server.registry),
            "connections": len(server.connections),
            "counters": [
                {"name": name, "labels": labels, "value": value}
                for name, labels, value in server.metrics.items()
            ],
        }
    )


async def cluster_status(request: web.Request) -> web.Response:
    """The live nodes of the cluster, their ages and users; one node when not clustered."""
    _developer(request)
    server = server_of(request)
    if server.cluster is not None:
        return web.json_response({"clustered": True, **await server.cluster.status()})
    return web.json_response(
        {
            "clustered": False,
            "nodeId": None,
            "nodes": [
                {
                    "nodeId": None,
                    "publicUrl": server.config.base_url,
                    "users": len(server.registry),
                    "draining": server.draining,
                }
            ],
        }
    )
