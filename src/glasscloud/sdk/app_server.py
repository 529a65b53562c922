"""`AppServer`: the HTTP side of an App. It serves the webhook the cloud calls
(`session_request`, `stop_request`), opens an `AppSession` per session request, and calls
the developer's `on_session(session)` and `on_stop(session, reason)`. It also answers the
cloud's `/settings` (a user's settings changed: applied to that user's sessions) and `/tool`
(an AI tool call: `@app.tool("id")` handlers, else `on_tool_call`), as the official SDK does.

Like the official SDK it answers `session_request` only after the App WebSocket was
acknowledged and `on_session` returned (`200 {"status":"success"}`), or with
`500 {"status":"error","message":"Failed to connect"}`; the cloud's start timeout counts
from its webhook, so the socket is opened at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.jsonio import decode_body
from glasscloud.sdk.errors import SdkError
from glasscloud.sdk.hardware import PhotoRequests
from glasscloud.sdk.reconnect import ReconnectPolicy
from glasscloud.sdk.session import AppSession, Sleep
from glasscloud.signals import until_stop_signal

log = logging.getLogger("glasscloud.sdk")

SessionHandler = Callable[[AppSession], Awaitable[Any] | Any]
StopHandler = Callable[[AppSession, str], Awaitable[Any] | Any]
DEFAULT_PORT = 7010


@dataclass(frozen=True, slots=True)
class ToolCall:
    """An AI tool call (the official SDK's ToolCall): `session` is the user's live session
    of this App, or None."""

    tool_id: str
    parameters: dict[str, Any]
    user_id: str
    timestamp: str | None
    session: AppSession | None


ToolHandler = Callable[[ToolCall], Awaitable[Any] | Any]


async def _call(fn: Callable[..., Any] | None, *args: Any) -> None:
    if fn is None:
        return
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


class AppServer:
    """Serve one App. Register handlers with the decorators, then `run()` (blocking) or
    `await start()` / `await stop()`.

    `port=0` binds a free port (read it back from `port` after `start()`). `reconnect`,
    `ack_timeout` and `sleep` tune the WebSocket behaviour (tests shorten the delays).
    """

    def __init__(
        self,
        package_name: str,
        api_key: str,
        *,
        port: int = DEFAULT_PORT,
        host: str = "0.0.0.0",
        ack_timeout: float = 5.0,
        reconnect: ReconnectPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not package_name or not api_key:
            raise ValueError("AppServer needs a package name and an API key")
        self.package_name = package_name
        self.api_key = api_key
        self.host = host
        self.port = port
        self.sessions: dict[str, AppSession] = {}
        self.photos = PhotoRequests()  # photos the glasses upload to /photo-upload
        self._ack_timeout = ack_timeout
        self._reconnect = reconnect or ReconnectPolicy()
        self._sleep = sleep
        self._on_session: SessionHandler | None = None
        self._on_stop: StopHandler | None = None
        self._tools: dict[str, ToolHandler] = {}
        self._on_tool_call: ToolHandler | None = None
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    # ---- developer hooks ---------------------------------------------------------------

    def on_session(self, handler: SessionHandler) -> SessionHandler:
        """Decorator: `async def handler(session)` runs for each new session."""
        self._on_session = handler
        return handler

    def on_stop(self, handler: StopHandler) -> StopHandler:
        """Decorator: `async def handler(session, reason)` runs once when a session ends
        (stop webhook, the cloud closing it, or the connection lost for good)."""
        self._on_stop = handler
        return handler

    def tool(self, tool_id: str) -> Callable[[ToolHandler], ToolHandler]:
        """Decorator: `async def handler(call: ToolCall)` answers the AI tool `tool_id`
        (declared when registering the App); what it returns is the `reply`."""

        def register(handler: ToolHandler) -> ToolHandler:
            self._tools[tool_id] = handler
            return handler

        return register

    def on_tool_call(self, handler: ToolHandler) -> ToolHandler:
        """Decorator: answers tool calls that no `@app.tool(...)` handler takes."""
        self._on_tool_call = handler
        return handler

    # ---- lifecycle ---------------------------------------------------------------------

    def web_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        app.router.add_get("/health", self._health)
        app.router.add_post("/settings", self._settings)
        app.router.add_post("/tool", self._tool)
        app.router.add_post("/photo-upload", self.photos.upload_route)
        return app

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        self._runner = web.AppRunner(self.web_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = addresses[0][1]
        log.info("%s listening on %s:%s", self.package_name, self.host, self.port)

    async def stop(self) -> None:
        """Close every session socket (the cloud may restart the App later, as it does for
        an App process that exits) and stop serving."""
        for session in list(self.sessions.values()):
            await session.close()
        self.sessions.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await until_stop_signal()
        finally:
            await self.stop()

    def run(self) -> None:
        """Blocking: serve until SIGINT/SIGTERM."""
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self.serve_forever())

    # ---- HTTP --------------------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "healthy", "app": self.package_name, "activeSessions": len(self.sessions)}
        )

    def _session_of(self, user_id: Any) -> AppSession | None:
        return next((s for s in self.sessions.values() if s.user_id == user_id), None)

    async def _settings(self, request: web.Request) -> web.Response:
        """The cloud tells the App server a user's settings changed (the official SDK's
        `/settings`): applied to that user's sessions only."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        user_id = body.get("userIdForSettings") if isinstance(body, dict) else None
        settings = body.get("settings") if isinstance(body, dict) else None
        if not user_id or not isinstance(settings, list):
            return _error(400, "Missing userId or settings array in request body")
        sessions = [s for s in self.sessions.values() if s.user_id == user_id]
        for session in sessions:
            session.settings.apply_update(settings)
        return web.json_response(
            {
                "status": "success",
                "message": "Settings updated successfully",
                "sessionsUpdated": len(sessions),
            }
        )

    async def _tool(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("toolId"), str):
            return _error(400, "A tool call needs a toolId")
        parameters = body.get("toolParameters")
        call = ToolCall(
            tool_id=body["toolId"],
            parameters=parameters if isinstance(parameters, dict) else {},
            user_id=str(body.get("userId") or ""),
            timestamp=body.get("timestamp") if isinstance(body.get("timestamp"), str) else None,
            session=self._session_of(body.get("userId")),
        )
        handler = self._tools.get(call.tool_id, self._on_tool_call)
        try:
            reply = handler(call) if handler is not None else None
            if inspect.isawaitable(reply):
                reply = await reply
        except Exception as exc:
            log.exception("tool %s raised", call.tool_id)
            return _error(500, str(exc) or "Unknown error occurred calling tool")
        return web.json_response({"status": "success", "reply": reply})

    async def _webhook(self, request: web.Request) -> web.Response:
        try:
            body = decode_body(await request.read())
        except ProtocolError as error:
            return _error(400, f"Request body must be a JSON object: {error.message}")
        kind = body.get("type")
        if kind == "session_request":
            return await self._session_request(body)
        if kind == "stop_request":
            return await self._stop_request(body)
        return _error(400, "Unknown webhook request type")

    async def _session_request(self, body: dict[str, Any]) -> web.Response:
        session_id, user_id = body.get("sessionId"), body.get("userId")
        url = body.get("mentraOSWebsocketUrl") or body.get("augmentOSWebsocketUrl")
        if not all(isinstance(v, str) and v for v in (session_id, user_id, url)):
            return _error(400, "session_request needs sessionId, userId and a WebSocket URL")
        if self._http is None:
            return _error(503, "App server is not started")
        previous = self.sessions.pop(session_id, None)
        if previous is not None:
            # The cloud asked again for a live session: hand the old socket over cleanly.
            await previous.close(release="switching_clouds")
        session = AppSession(
            package_name=self.package_name,
            api_key=self.api_key,
            session_id=session_id,
            user_id=user_id,
            ws_url=url,
            http=self._http,
            ack_timeout=self._ack_timeout,
            reconnect=self._reconnect,
            sleep=self._sleep,
            on_end=self._session_ended,
            photos=self.photos,
        )
        try:
            await session.connect()
        except SdkError as error:
            log.warning("%s: could not connect: %s", session_id, error)
            return _error(500, "Failed to connect")
        self.sessions[session_id] = session
        try:
            await _call(self._on_session, session)
        except Exception:
            log.exception("%s: on_session raised", session_id)
            return _error(500, "Failed to connect")
        await session.flush()
        return web.json_response({"status": "success"})

    async def _stop_request(self, body: dict[str, Any]) -> web.Response:
        session = self.sessions.pop(str(body.get("sessionId")), None)
        if session is None:
            return web.json_response({"status": "success"})
        reason = str(body.get("reason") or "user_disabled")
        try:
            await _call(self._on_stop, session, reason)
        except Exception:
            log.exception("%s: on_stop raised", session.session_id)
            await session.close()
            return _error(500, "Failed to process stop request")
        await session.close()
        return web.json_response({"status": "success"})

    async def _session_ended(self, session: AppSession, reason: str, notify: bool) -> None:
        if self.sessions.get(session.session_id) is session:
            del self.sessions[session.session_id]
        if notify:
            try:
                await _call(self._on_stop, session, reason)
            except Exception:
                log.exception("%s: on_stop raised", session.session_id)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"status": "error", "message": message}, status=status)
