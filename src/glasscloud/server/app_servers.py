"""App server registration (the reference design doc's recovery path, never mounted in the
reference cloud): an App server registers with its package and API key, sends heartbeats,
and after a restart says so; glasscloud then sends a fresh `session_request` for every user
session that runs that App, so sessions come back without the users doing anything.

    POST /api/app-server/register   {packageName, apiKey, webhookUrl?, serverUrls?}
         -> 201 {success, registrationId}
    POST /api/app-server/heartbeat  {registrationId}  -> 200 {success} | 404
    POST /api/app-server/restart    {registrationId}  -> 200 {success, recoveredSessions}

Registrations live in memory: an App server registers again when it starts. Those silent
for longer than `STALE_AFTER` are forgotten.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from glasscloud.auth.apikeys import verify_api_key
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import decode_body
from glasscloud.protocol.validate import check_package_name
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.request_context import server_of

STALE_AFTER = 30 * 60.0
MAX_REGISTRATIONS = 100_000


@dataclass
class Registration:
    registration_id: str
    package_name: str
    webhook_url: str | None
    server_urls: list[str]
    registered_at: float
    last_seen: float = field(default=0.0)


class AppServerRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, Registration] = {}

    def add(self, package_name: str, webhook_url: str | None, server_urls: list[str]) -> str:
        self.purge()
        now = time.monotonic()
        registration = Registration(
            str(uuid.uuid4()), package_name, webhook_url, server_urls, now, now
        )
        self._by_id[registration.registration_id] = registration
        return registration.registration_id

    def seen(self, message: dict[str, Any]) -> None:
        """Another node of the cluster registered (or heard from) an App server: its later
        heartbeats and restart notices may reach this node."""
        registration_id, package = message.get("registration"), message.get("package")
        if not isinstance(registration_id, str) or not isinstance(package, str):
            return
        if self.touch(registration_id) is None and len(self._by_id) < MAX_REGISTRATIONS:
            now = time.monotonic()
            self._by_id[registration_id] = Registration(
                registration_id, package, None, [], now, now
            )

    def touch(self, registration_id: str) -> Registration | None:
        registration = self._by_id.get(registration_id)
        if registration is not None:
            registration.last_seen = time.monotonic()
        return registration

    def purge(self) -> None:
        cutoff = time.monotonic() - STALE_AFTER
        for key in [k for k, r in self._by_id.items() if r.last_seen < cutoff]:
            del self._by_id[key]

    def __len__(self) -> int:
        return len(self._by_id)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/app-server/register", register)
    app.router.add_post("/api/app-server/heartbeat", heartbeat)
    app.router.add_post("/api/app-server/restart", restart)


def _fail(request: web.Request, error: ProtocolError) -> web.Response:
    """`{"success": false, "error": {code, message}}` (the reference documents
    `{success: false, error}`; the error is our coded object)."""
    return error_response(error, Envelope.PHONE, server_of(request).metrics)


def _not_registered() -> ProtocolError:
    return ProtocolError(
        ErrorCode.REGISTRATION_NOT_FOUND, "Registration not found; register again."
    )


async def _body(request: web.Request) -> dict[str, Any]:
    """The JSON object body; ProtocolError(MALFORMED_MESSAGE) otherwise."""
    return decode_body(await request.read())


async def register(request: web.Request) -> web.Response:
    server = server_of(request)
    try:
        body = await _body(request)
        package = check_package_name(body.get("packageName"))
        api_key = body.get("apiKey")
        if not isinstance(api_key, str):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "`apiKey` must be a string.", "apiKey")
    except ProtocolError as error:
        return _fail(request, error)
    record = await server.store.get_app(package)
    if record is None:
        return _fail(request, package_not_found(package, "packageName"))
    if not verify_api_key(api_key, record.api_key_hash):
        server.metrics.inc("app_auth_failures", code=ErrorCode.INVALID_API_KEY.value)
        return _fail(
            request,
            ProtocolError(ErrorCode.INVALID_API_KEY, f"Invalid API key for {package}.", "apiKey"),
        )
    urls = body.get("serverUrls") or []
    if isinstance(urls, str):
        urls = [u.strip() for u in urls.split(",") if u.strip()]
    webhook = body.get("webhookUrl")
    registration_id = server.app_servers.add(
        package, webhook if isinstance(webhook, str) else None, [str(u) for u in urls]
    )
    await server.app_changed("app_server_seen", package, registration=registration_id)
    return web.json_response({"success": True, "registrationId": registration_id}, status=201)


async def heartbeat(request: web.Request) -> web.Response:
    server = server_of(request)
    try:
        body = await _body(request)
    except ProtocolError as error:
        return _fail(request, error)
    registration = server.app_servers.touch(str(body.get("registrationId")))
    if registration is None:
        return _fail(request, _not_registered())
    await server.app_changed(
        "app_server_seen", registration.package_name, registration=registration.registration_id
    )
    return web.json_response({"success": True})


async def restart(request: web.Request) -> web.Response:
    server = server_of(request)
    try:
        body = await _body(request)
    except ProtocolError as error:
        return _fail(request, error)
    registration = server.app_servers.touch(str(body.get("registrationId")))
    if registration is None:
        return _fail(request, _not_registered())
    recovered = sum(
        1 for session in server.registry if session.restart_app(registration.package_name)
    )
    # recoveredSessions counts this node's; every other node asks its users' Apps too
    await server.app_changed("app_server_restarted", registration.package_name)
    server.metrics.inc("app_server_restarts")
    return web.json_response({"success": True, "recoveredSessions": recovered})
