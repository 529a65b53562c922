"""REST routes for the phone: list, start and stop Apps (Bearer core token). Health and
readiness are in `health.py`."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from glasscloud.core.ports import StartResult
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.request_context import core_token_user, server_of
from glasscloud.server.sessions import served_elsewhere, session_moving

# HTTP status for a failed start, by stage.
_START_STATUS = {
    "WEBHOOK": 502,
    "TIMEOUT": 504,
    "STOPPED": 409,
    "CONNECTION": 409,
    "MOVED": 409,
}


def add_routes(app: web.Application) -> None:
    for prefix in ("/apps", "/api/apps"):
        app.router.add_get(prefix, list_apps)
        app.router.add_post(prefix + "/{package}/start", start_app)
        app.router.add_post(prefix + "/{package}/stop", stop_app)


def _error(request: web.Request, error: ProtocolError) -> web.Response:
    return error_response(error, Envelope.PHONE, server_of(request).metrics)


async def list_apps(request: web.Request) -> web.Response:
    user_id = core_token_user(request)
    server = server_of(request)
    if (answer := await served_elsewhere(server, request, user_id)) is not None:
        return answer
    session = server.registry.get(user_id)
    data: list[dict[str, Any]] = []
    for record in await server.store.list_apps():
        state = session.app_state(record.package_name) if session else None
        entry = record.public_view()
        entry["is_running"] = state == "running"
        entry["is_foreground"] = state == "running" and record.app_type == "standard"
        entry["state"] = state or "stopped"
        data.append(entry)
    return web.json_response({"success": True, "data": data})


async def start_app(request: web.Request) -> web.Response:
    user_id = core_token_user(request)
    server = server_of(request)
    package_name = request.match_info["package"]
    if (answer := await served_elsewhere(server, request, user_id)) is not None:
        return answer
    session = server.registry.get(user_id)
    if session is not None and server.cluster is not None and not server.cluster.owns(user_id):
        return _error(request, session_moving(user_id))
    if session is None:
        return _error(
            request,
            ProtocolError(
                ErrorCode.NO_SESSION,
                f"{user_id} has no live glasses session; connect the glasses first.",
            ),
        )
    record = await server.app_records.get(package_name)
    if record is None:
        return _error(request, package_not_found(package_name))
    done: asyncio.Future[StartResult] = asyncio.get_running_loop().create_future()

    def finish(result: StartResult) -> None:
        if not done.done():
            done.set_result(result)

    session.start_app(record, finish)
    timings = server.config.timings
    # A start may wait in its App server's webhook queue before its own timeout runs.
    budget = (
        timings.app_start_queue_cap + timings.app_start_timeout + timings.webhook_retry_delay + 5.0
    )
    try:
        result = await asyncio.wait_for(done, budget)
    except TimeoutError:
        result = StartResult(False, package_name, "TIMEOUT", "No outcome in time.")
    if result.success:
        await server.effects.running_apps_settled(user_id, timings.stop_webhook_timeout)
        return web.json_response(
            {"success": True, "data": {"status": "started", "packageName": package_name}}
        )
    return web.json_response(
        {
            "success": False,
            "data": {"status": "failed", "packageName": package_name},
            "error": {"stage": result.stage, "message": result.message},
        },
        status=_START_STATUS.get(result.stage or "", 500),
    )


async def stop_app(request: web.Request) -> web.Response:
    user_id = core_token_user(request)
    server = server_of(request)
    package_name = request.match_info["package"]
    if (answer := await served_elsewhere(server, request, user_id)) is not None:
        return answer
    session = server.registry.get(user_id)
    if session is None or not session.stop_app(package_name, "user_disabled"):
        return _error(
            request,
            ProtocolError(ErrorCode.NOT_RUNNING, f"{package_name} is not running for {user_id}."),
        )
    await server.effects.running_apps_settled(user_id, server.config.timings.stop_webhook_timeout)
    return web.json_response(
        {"success": True, "data": {"status": "stopped", "packageName": package_name}}
    )
