"""A user's settings for an App, over REST (`/appsettings/...`, legacy `/tpasettings/...`).

- `GET /appsettings/{package}` and `POST /appsettings/{package}`: the phone, with the user's
  core token. A POST is checked against the App's schema (core/app_settings.py), stored,
  then delivered: `settings_update` on the App's socket (the session decides) and a POST of
  `{userIdForSettings, settings}` to `{publicUrl}/settings`, as the reference cloud does.
  Deliveries for one user and App go one at a time, newest values only (`SettingsDelivery`):
  a slow `/settings` POST can never land after a newer change and undo it in the App.
- `GET /appsettings/user/{package}`: the SDK's `session.settings.fetch()`, whose only
  credential is the App session id (`<userId>-<package>`). That id is not a secret, so it
  is answered only while that App runs for that user, and only with that App's settings.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from glasscloud.core import app_settings
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError, package_not_found
from glasscloud.protocol.jsonio import decode_json
from glasscloud.server import app_calls
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.request_context import SERVER_KEY, bearer_token, core_token_user, server_of
from glasscloud.server.sessions import served_elsewhere
from glasscloud.store.errors import StoreError

log = logging.getLogger("glasscloud.settings")

SETTINGS_WEBHOOK_TIMEOUT = 5.0

_DELIVERY_KEY: web.AppKey[SettingsDelivery] = web.AppKey("glasscloud_settings_delivery")


class SettingsDelivery:
    """Per (user, App): one delivery at a time, in order, only the newest list (coalesced).
    Each delivery asks the session whom to tell at that moment (the socket now; the App
    server too if the App runs) and waits for the `/settings` POST (bounded) before the
    next one, so the App sees the changes in the order they were made."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._pending: dict[tuple[str, str], tuple[str, list[dict[str, Any]]]] = {}
        self._busy: set[tuple[str, str]] = set()

    def deliver(
        self, user_id: str, package: str, public_url: str, settings: list[dict[str, Any]]
    ) -> None:
        key = (user_id, package)
        self._pending[key] = (public_url, settings)
        if key not in self._busy:
            self._busy.add(key)
            self._app[SERVER_KEY].tasks.spawn(self._drain(key))

    async def _drain(self, key: tuple[str, str]) -> None:
        user_id, package = key
        try:
            while key in self._pending:
                public_url, settings = self._pending.pop(key)
                session = self._app[SERVER_KEY].registry.get(user_id)
                if session is None or not session.app_settings_changed(package, settings):
                    continue
                await _tell_app_server(
                    self._app, public_url.rstrip("/") + "/settings", user_id, settings
                )
        finally:
            self._busy.discard(key)


def add_routes(app: web.Application) -> None:
    app_calls.install(app)
    app[_DELIVERY_KEY] = SettingsDelivery(app)
    for prefix in ("/appsettings", "/tpasettings"):
        app.router.add_get(prefix + "/user/{package}", sdk_settings)
        app.router.add_get(prefix + "/{package}", get_settings)
        app.router.add_post(prefix + "/{package}", update_settings)


def _refusal(request: web.Request, error: ProtocolError) -> web.Response:
    """The phone envelope, `{"success": false, "error": {code, message, field?}}`."""
    return error_response(error, Envelope.PHONE, server_of(request).metrics)


async def get_settings(request: web.Request) -> web.Response:
    """The phone's settings screen for one App: each setting with `selected`."""
    user_id = core_token_user(request)
    server = server_of(request)
    package = request.match_info["package"]
    record = await server.store.get_app(package)
    if record is None:
        return _refusal(request, package_not_found(package))
    stored = await server.store.get_app_settings(user_id, package)
    return web.json_response(
        {
            "success": True,
            "userId": user_id,
            "name": record.name,
            "description": "",
            "uninstallable": not record.is_system,
            "webviewURL": record.webview_url or None,
            "version": "1.0.0",
            "settings": app_settings.phone_view(record.settings_schema, stored),
            "permissions": [{"type": p} for p in record.permissions],
            "organization": None,
        }
    )


async def update_settings(request: web.Request) -> web.Response:
    """`{key, value}` or a list of them: all checked before anything is stored."""
    user_id = core_token_user(request)
    server = server_of(request)
    package = request.match_info["package"]
    if (answer := await served_elsewhere(server, request, user_id)) is not None:
        return answer  # the node serving the user tells its live App
    record = await server.app_records.get(package)
    if record is None:
        return _refusal(request, package_not_found(package))
    try:
        body = decode_json(await request.read(), "body")
    except ProtocolError as error:
        return _refusal(request, error)
    try:
        changes = app_settings.check_changes(
            record.settings_schema, app_settings.parse_changes(body)
        )
    except ProtocolError as error:
        server.metrics.inc("settings_refused", code=error.code.value)
        return _refusal(request, error)
    try:
        await server.store.set_app_settings(user_id, package, changes)
        server.session_settings.changed(server.registry.get(user_id), package)
        stored = await server.store.get_app_settings(user_id, package)
    except StoreError as error:
        log.warning("could not store settings: %s", error.message, extra={"userId": user_id})
        return _refusal(
            request, ProtocolError(ErrorCode.INTERNAL_ERROR, "The settings could not be stored.")
        )
    server.metrics.inc("settings_updated")
    settings = app_settings.app_view(record.settings_schema, stored)
    request.app[_DELIVERY_KEY].deliver(user_id, package, record.public_url, settings)
    return web.json_response({"success": True, "message": "Settings updated successfully"})


async def _tell_app_server(
    app: web.Application, url: str, user_id: str, settings: list[dict[str, Any]]
) -> None:
    answer = await app_calls.post_json(
        app, url, app_wire.settings_webhook(user_id, settings), SETTINGS_WEBHOOK_TIMEOUT
    )
    if not answer.ok:
        log.info(
            "App server not told of a settings change: %s",
            answer.message,
            extra={"userId": user_id, "url": url},
        )


async def sdk_settings(request: web.Request) -> web.Response:
    """The SDK's own read: `Authorization: Bearer <userId>-<package>`."""
    server = server_of(request)
    package = request.match_info["package"]
    session_id = bearer_token(request.headers.get("Authorization"))
    if not session_id:
        return _refusal(
            request,
            ProtocolError(
                ErrorCode.MISSING_TOKEN,
                "Send `Authorization: Bearer <sessionId>` (the App session id).",
            ),
        )
    user_id = app_wire.user_id_from_session_id(session_id, package)
    if user_id is None:
        return _refusal(
            request,
            ProtocolError(
                ErrorCode.PACKAGE_MISMATCH,
                f"'{session_id}' is not a session id of {package}.",
                "Authorization",
            ),
        )
    if (answer := await served_elsewhere(server, request, user_id)) is not None:
        return answer
    session = server.registry.get(user_id)
    slot = session.apps.get(package) if session is not None else None
    if slot is None or not slot.active:
        return _refusal(
            request,
            ProtocolError(
                ErrorCode.APP_NOT_STARTED,
                f"{package} is not running for that user; its settings are read only by a "
                "live App session.",
            ),
        )
    record = await server.store.get_app(package) or slot.record
    stored = await server.store.get_app_settings(user_id, package)
    return web.json_response(
        {"success": True, "settings": app_settings.app_view(record.settings_schema, stored)}
    )
