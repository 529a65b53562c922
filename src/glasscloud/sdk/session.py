"""`AppSession`: one user's session of this App, from the `session_request` webhook until the
session ends. It owns the App WebSocket (reconnecting on unexpected closes, like the official
SDK), routes what the cloud sends to `events`, `settings` and `dashboard`, and sends what
`layouts`, `dashboard` and subscription changes produce."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.sdk import frames
from glasscloud.sdk.connection import ERROR_TYPES, AppConnection, Closed
from glasscloud.sdk.dashboard import Dashboard
from glasscloud.sdk.errors import (
    CloudError,
    ConnectError,
    SessionClosedError,
    StreamPermissionError,
)
from glasscloud.sdk.events import EventManager
from glasscloud.sdk.hardware import Audio, Camera, Led, PhotoRequests, attach, wifi_setup_frame
from glasscloud.sdk.layouts import Layouts
from glasscloud.sdk.reconnect import ReconnectPolicy
from glasscloud.sdk.registry import Dispatcher, Registration
from glasscloud.sdk.settings import Settings
from glasscloud.sdk.storage import SimpleStorage, http_base

log = logging.getLogger("glasscloud.sdk")

_APP_EVENTS = frozenset(
    {"app_message_received", "app_user_joined", "app_user_left", "app_room_updated"}
)

LOST = "Connection permanently lost: Maximum reconnection attempts exceeded"

# (session, reason, notify): notify is False when the App itself closed the session.
EndCallback = Callable[["AppSession", str, bool], Awaitable[None] | None]
Sleep = Callable[[float], Awaitable[Any]]


class AppSession:
    def __init__(
        self,
        *,
        package_name: str,
        api_key: str,
        session_id: str,
        user_id: str,
        ws_url: str,
        http: aiohttp.ClientSession,
        ack_timeout: float = 5.0,
        reconnect: ReconnectPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        on_end: EndCallback | None = None,
        photos: PhotoRequests | None = None,
    ) -> None:
        self.package_name = package_name
        self.session_id = session_id
        self.user_id = user_id
        self.ws_url = ws_url
        self._api_key = api_key
        self._http = http
        self._ack_timeout = ack_timeout
        self._policy = reconnect or ReconnectPolicy()
        self._sleep = sleep
        self._clock = clock
        self._on_end = on_end
        self._dispatcher = Dispatcher(f"{package_name} {session_id}")
        emit = self._dispatcher.emit
        self.events = EventManager(emit, self._send_subscriptions)
        self.settings = Settings(emit, self._send_subscriptions, self._fetch_settings)
        self.layouts = Layouts(package_name, self.send, self._timestamp)
        self.dashboard = Dashboard(package_name, session_id, self.send, self._timestamp, emit)
        self.camera: Camera
        self.audio: Audio
        self.led: Led
        self._hardware_answer = attach(self, photos)  # sets camera, audio, led
        self.capabilities: dict[str, Any] | None = None
        self.device_state: dict[str, Any] = {}
        self.storage = SimpleStorage(http, http_base(ws_url), package_name, api_key, user_id)
        self.simple_storage = self.storage  # the official SDK's name
        self._app_handlers: dict[str, list[Registration]] = {}
        self._direct_waiters: dict[str, asyncio.Future[bool]] = {}
        self._message_ids = itertools.count(1)
        self.end_reason: str | None = None
        self._conn: AppConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._ended = asyncio.Event()

    def __repr__(self) -> str:
        return f"<AppSession {self.session_id} {'ended' if self.ended else 'live'}>"

    # ---- state -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def ended(self) -> bool:
        return self.end_reason is not None

    def _timestamp(self) -> str:
        return iso_timestamp(self._clock())

    # ---- connecting --------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the socket, authenticate and wait for the ack. Raises CloudError (refused
        by the cloud) or ConnectError (unreachable, no ack in time)."""
        if self._task is not None:
            raise RuntimeError("connect() was already called")
        conn, ack = await self._open()
        self._attach(conn, ack)
        self._task = asyncio.create_task(self._run())

    async def _open(self) -> tuple[AppConnection, dict[str, Any]]:
        init = frames.connection_init(
            self.session_id, self.package_name, self._api_key, self._timestamp()
        )
        return await AppConnection.open(self._http, self.ws_url, init, self._ack_timeout)

    async def _fetch_settings(self) -> Any:
        """The SDK's own read: `GET {cloud}/appsettings/user/{package}` with the session id
        as the bearer (what @mentra/sdk sends)."""
        url = frames.http_base(self.ws_url) + f"/appsettings/user/{self.package_name}"
        headers = {"Authorization": f"Bearer {self.session_id}"}
        async with self._http.get(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            body = await response.json(content_type=None)
        if not isinstance(body, dict):
            raise CloudError("MALFORMED_MESSAGE", "the settings answer is not a JSON object")
        if response.status != 200:
            error = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise CloudError(
                str(error.get("code") or f"HTTP_{response.status}"),
                str(error.get("message") or f"fetching settings failed (HTTP {response.status})"),
            )
        return body.get("settings") or []

    def _attach(self, conn: AppConnection, ack: dict[str, Any]) -> None:
        self._conn = conn
        self.settings.apply_ack(ack)
        self.capabilities = ack.get("capabilities")
        # Right after every ack: the full list (empty on the first connect, as in the SDK).
        self._send_subscriptions()

    # ---- sending -----------------------------------------------------------------------

    def send(self, frame: str) -> None:
        """Queue one text frame. Raises SessionClosedError after the session ended; while
        reconnecting the frame is dropped (subscriptions are re-sent after reconnecting)."""
        if self.ended:
            raise SessionClosedError(f"session {self.session_id} has ended ({self.end_reason})")
        if self._conn is None:
            log.debug("not connected; frame dropped")
            return
        self._conn.send(frame)

    def request_wifi_setup(self, reason: str | None = None) -> None:
        """Ask the phone to show its Wi-Fi setup (e.g. before streaming or uploads)."""
        self.send(wifi_setup_frame(self, reason))

    def _send_subscriptions(self) -> None:
        if self._conn is None or self.ended:
            return
        self._conn.send(
            frames.subscription_update(
                self.package_name, self.events.subscriptions, self.session_id, self._timestamp()
            )
        )

    async def flush(self) -> None:
        """Wait until queued frames are on the socket and handler calls have run."""
        if self._conn is not None:
            await self._conn.flush()

    async def drain(self) -> None:
        """Wait until every event received so far has been handled (for tests)."""
        await self._dispatcher.drain()
        await self.flush()

    # ---- receiving ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            conn = self._conn
            assert conn is not None
            closed = await self._read(conn)
            await conn.close()
            self._conn = None
            if self._closing:
                return
            if not self._policy.should_reconnect(closed.code, closed.reason):
                reason = closed.reason or f"Connection closed (code {closed.code})"
                await self._end(reason, notify=True)
                return
            log.info("App socket lost (code %s); reconnecting", closed.code)
            if not await self._reconnect():
                await self._end(LOST, notify=True)
                return

    async def _reconnect(self) -> bool:
        for attempt in range(self._policy.max_attempts):
            await self._sleep(self._policy.delay(attempt))
            try:
                conn, ack = await self._open()
            except CloudError as error:
                # A refused init is final (the cloud closes it with 1008).
                self._report(error)
                return False
            except ConnectError as error:
                log.info("reconnect attempt %d failed: %s", attempt + 1, error)
                continue
            self._attach(conn, ack)
            return True
        return False

    async def _read(self, conn: AppConnection) -> Closed:
        while True:
            incoming = await conn.receive()
            if isinstance(incoming, Closed):
                return incoming
            if incoming.audio is not None:
                self.events.dispatch_audio(incoming.audio)
            elif incoming.message is not None:
                self._handle(incoming.message)

    def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if self._hardware_answer(frame):
            return
        if kind == "data_stream":
            stream = frame.get("streamType")
            if isinstance(stream, str):
                self.events.dispatch(stream, frame.get("data"))
        elif kind in ERROR_TYPES:
            self._report(CloudError.from_frame(frame))
        elif kind == "permission_error":
            self._report(StreamPermissionError.from_frame(frame))
        elif kind == "settings_update":
            self.settings.apply_update(frame.get("settings"))
        elif kind in ("augmentos_settings_update", "mentraos_settings_update"):
            self.settings.apply_system(frame.get("settings"))
        elif kind == "capabilities_update":
            self.capabilities = frame.get("capabilities")
        elif kind == "device_state_update":
            state = frame.get("state")
            if isinstance(state, dict):
                if frame.get("fullSnapshot"):
                    self.device_state = {}
                self.device_state.update(state)
        elif kind == "dashboard_mode_changed":
            self.dashboard.apply_mode(frame.get("mode"))
        elif kind == "tpa_connection_ack":
            self.settings.apply_ack(frame)
        elif kind == "app_stopped":
            log.info("cloud stopped %s: %s", self.package_name, frame.get("reason", ""))
        elif kind in _APP_EVENTS:
            for registration in list(self._app_handlers.get(kind, ())):
                self._dispatcher.emit(registration, frame)
        elif kind == "app_direct_message_response":
            waiter = self._direct_waiters.pop(str(frame.get("messageId")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(bool(frame.get("success")))
        else:
            log.debug("unhandled message type %s", kind)

    # ---- App-to-App communication -------------------------------------------------------

    def on_app_message(self, handler: Callable[[dict[str, Any]], Any]) -> Registration:
        """`handler(frame)` for each `app_message_received` (payload, senderUserId, ...)."""
        return self._on_app("app_message_received", handler)

    def on_app_user_joined(self, handler: Callable[[dict[str, Any]], Any]) -> Registration:
        return self._on_app("app_user_joined", handler)

    def on_app_user_left(self, handler: Callable[[dict[str, Any]], Any]) -> Registration:
        return self._on_app("app_user_left", handler)

    def _on_app(self, kind: str, handler: Callable[[dict[str, Any]], Any]) -> Registration:
        handlers = self._app_handlers.setdefault(kind, [])
        registration = Registration(kind, handler, handlers.remove)
        handlers.append(registration)
        return registration

    def _message_id(self) -> str:
        return f"msg_{int(self._clock() * 1000)}_{next(self._message_ids)}{secrets.token_hex(3)}"

    def broadcast_to_app_users(self, payload: Any) -> str:
        """To every other user running this App now; returns the message id."""
        message_id = self._message_id()
        self.send(
            frames.app_broadcast_message(
                self.package_name,
                self.session_id,
                payload,
                message_id,
                self.user_id,
                self._timestamp(),
            )
        )
        return message_id

    async def send_direct_message(
        self, target_user_id: str, payload: Any, timeout: float = 15.0
    ) -> bool:
        """True if the cloud delivered it (the target runs this App now), else False."""
        message_id = self._message_id()
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._direct_waiters[message_id] = waiter
        self.send(
            frames.app_direct_message(
                self.package_name,
                self.session_id,
                target_user_id,
                payload,
                message_id,
                self.user_id,
                self._timestamp(),
            )
        )
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._direct_waiters.pop(message_id, None)

    async def discover_app_users(self) -> dict[str, Any]:
        """`{users: [{userId, sessionId}], totalUsers}`: the others running this App now."""
        async with self._http.post(
            f"{http_base(self.ws_url)}/api/app-communication/discover-users",
            headers={"Authorization": f"Bearer {self._api_key}"},
            json={"packageName": self.package_name, "userId": self.user_id},
        ) as response:
            body = await response.json(content_type=None)
        if response.status != 200 or not isinstance(body, dict):
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise CloudError(
                str(error.get("code") or response.status), str(error.get("message") or "")
            )
        return body

    def join_app_room(self, room_id: str) -> None:
        self.send(
            frames.app_room(
                "app_room_join", self.package_name, self.session_id, room_id, self._timestamp()
            )
        )

    def leave_app_room(self, room_id: str) -> None:
        self.send(
            frames.app_room(
                "app_room_leave", self.package_name, self.session_id, room_id, self._timestamp()
            )
        )

    def _report(self, error: CloudError | StreamPermissionError) -> None:
        if not self.events.dispatch_error(error):
            log.warning("%s: error from the cloud: %s", self.session_id, error)

    # ---- ending ------------------------------------------------------------------------

    async def close(self, release: str | None = None) -> None:
        """End the session from the App side: no reconnect, no on_stop. `release`
        (`clean_shutdown`, `user_logout`, `switching_clouds`) sends `ownership_release`
        first, telling the cloud not to restart the App."""
        if self.ended or self._closing:
            return
        self._closing = True
        conn = self._conn
        if conn is not None:
            if release:
                conn.send(
                    frames.ownership_release(
                        self.package_name, self.session_id, release, self._timestamp()
                    )
                )
            await conn.close()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            if conn is None:
                task.cancel()  # sleeping between reconnect attempts
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._end(release or "closed by the App", notify=False)

    async def _end(self, reason: str, notify: bool) -> None:
        if self.end_reason is not None:
            return
        self.end_reason = reason
        for waiter in self._direct_waiters.values():
            if not waiter.done():
                waiter.set_result(False)
        try:
            try:
                await self.storage.flush()  # as the official SDK does on disconnect
            except Exception:
                log.warning("%s: Simple Storage flush failed", self.session_id, exc_info=True)
            await self._dispatcher.close()  # handler calls already received still run
            if self._on_end is not None:
                result = self._on_end(self, reason, notify)
                if inspect.isawaitable(result):
                    await result
        finally:
            self._ended.set()

    async def wait_closed(self) -> str:
        """Wait for the end of the session; returns why it ended."""
        await self._ended.wait()
        return self.end_reason or ""
