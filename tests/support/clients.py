"""Real-socket test peers: a glasses client and a Python App server (webhook + /app-ws),
both talking to a real glasscloud on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.loopback import serve_on_loopback

Predicate = Callable[[dict[str, Any]], bool]


class FrameInbox:
    """Frames received on one WebSocket, read in the background; tests wait for a match."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, name: str) -> None:
        self.ws = ws
        self.name = name
        self.messages: list[dict[str, Any]] = []
        self.binaries: list[bytes] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._changed = asyncio.Condition()
        self._taken: set[int] = set()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            async with self._changed:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(msg.data))
                elif msg.type is aiohttp.WSMsgType.BINARY:
                    self.binaries.append(msg.data)
                self._changed.notify_all()
        async with self._changed:
            self.close_code = self.ws.close_code
            reason = getattr(self.ws, "_close_message", None)
            self.close_reason = reason if isinstance(reason, str) else None
            self._changed.notify_all()

    async def wait_for(
        self, msg_type: str, where: Predicate | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """The first message of that type (matching `where`) not returned before."""

        def find() -> int | None:
            for index, message in enumerate(self.messages):
                if index in self._taken or message.get("type") != msg_type:
                    continue
                if where is None or where(message):
                    return index
            return None

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with self._changed:
            index = find()
            while index is None:
                remaining = deadline - loop.time()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    raise AssertionError(
                        f"{self.name}: no {msg_type} within {timeout}s; got "
                        f"{[m.get('type') for m in self.messages]}"
                    ) from None
                index = find()
            self._taken.add(index)
            return self.messages[index]

    def skip_existing(self) -> None:
        """Only messages that arrive from now on can match a later `wait_for`."""
        self._taken.update(range(len(self.messages)))

    async def wait_binary(self, count: int = 1, timeout: float = 5.0) -> list[bytes]:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self.binaries) >= count), timeout
                )
            except TimeoutError:
                raise AssertionError(f"{self.name}: {len(self.binaries)} binary frames") from None
        return self.binaries

    async def wait_closed(self, timeout: float = 5.0) -> int | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        if not self._task.done():
            raise AssertionError(f"{self.name}: still open after {timeout}s")
        return self.close_code

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == msg_type]

    async def send(self, obj: dict[str, Any] | str) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._task, 5)


async def connect_glasses(
    http: aiohttp.ClientSession, base_ws: str, token: str | None, name: str = "glasses"
) -> FrameInbox:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ws = await http.ws_connect(base_ws + "/glasses-ws", headers=headers, autoping=True)
    return FrameInbox(ws, name)


class PyApp:
    """A minimal App server written against the wire protocol: answers `session_request` by
    connecting to the URL it names, sending `tpa_connection_init`, waiting for the ack, and
    only then answering the webhook (what the SDK does). Behaviour switches let tests make
    it fail in specific ways."""

    def __init__(self, http: aiohttp.ClientSession, package: str, api_key: str) -> None:
        self.http = http
        self.package = package
        self.api_key = api_key
        self.webhooks: list[dict[str, Any]] = []
        self.inboxes: dict[str, FrameInbox] = {}  # by userId
        self.connect = True
        self.webhook_status = 200
        self.stop_delay = 0.0
        self.subscriptions: list[str] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> PyApp:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        for inbox in self.inboxes.values():
            with contextlib.suppress(Exception):
                await inbox.close()
        if self._runner:
            await self._runner.cleanup()

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.webhooks.append(body)
            self._changed.notify_all()
        if body["type"] == "session_request" and self.connect:
            inbox = await self.open_socket(body["mentraOSWebsocketUrl"], body["sessionId"])
            self.inboxes[body["userId"]] = inbox
            try:
                await inbox.wait_for("tpa_connection_ack", timeout=5)
            except AssertionError:
                return web.json_response(
                    {"status": "error", "message": "Failed to connect"}, status=500
                )
            await inbox.send(self.subscription_message(self.subscriptions))
        if body["type"] == "stop_request" and self.stop_delay:
            await asyncio.sleep(self.stop_delay)
        if body["type"] == "stop_request" and body["userId"] in self.inboxes:
            await self.inboxes[body["userId"]].close()
        return web.json_response({"status": "success"}, status=self.webhook_status)

    async def open_socket(
        self, url: str, session_id: str, api_key: str | None = None
    ) -> FrameInbox:
        ws = await self.http.ws_connect(url)
        inbox = FrameInbox(ws, f"app:{self.package}")
        await inbox.send(
            {
                "type": "tpa_connection_init",
                "sessionId": session_id,
                "packageName": self.package,
                "apiKey": api_key if api_key is not None else self.api_key,
                "timestamp": "2026-11-25T00:00:00.000Z",
            }
        )
        return inbox

    def subscription_message(self, subs: list[str]) -> dict[str, Any]:
        return {
            "type": "subscription_update",
            "packageName": self.package,
            "subscriptions": subs,
            "sessionId": "",
        }

    async def wait_webhook(self, kind: str, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(
                        lambda: len([w for w in self.webhooks if w["type"] == kind]) >= count
                    ),
                    timeout,
                )
            except TimeoutError:
                raise AssertionError(f"no {kind} #{count}; got {self.webhooks}") from None
        return [w for w in self.webhooks if w["type"] == kind][count - 1]
