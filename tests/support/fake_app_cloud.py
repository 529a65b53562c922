"""A scripted stand-in for a cloud's `/app-ws`, on 127.0.0.1, for testing the Python App SDK
frame by frame: it records every text frame exactly as received, answers
`tpa_connection_init` with a given ack (or a given error), and lets a test push frames and
close connections with any code."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.loopback import serve_on_loopback


class FakeConnection:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.closed = asyncio.Event()

    def of_type(self, msg_type: str) -> list[str]:
        return [f for f in self.frames if json.loads(f)["type"] == msg_type]

    async def send(self, frame: str | dict[str, Any]) -> None:
        await self.ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))

    async def close(self, code: int, reason: str = "") -> None:
        await self.ws.close(code=code, message=reason.encode())


class FakeAppCloud:
    def __init__(self, ack: str) -> None:
        self.ack = ack
        self.reject_init: dict[str, Any] | None = None  # error frame answering init (+1008)
        self.refuse_upgrades = False
        self.connections: list[FakeConnection] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/app-ws"

    async def start(self) -> FakeAppCloud:
        app = web.Application()
        app.router.add_get("/app-ws", self._handle)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        for conn in self.connections:
            if conn.ws.prepared and not conn.ws.closed:
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_upgrades:
            async with self._changed:
                self.connections.append(FakeConnection(web.WebSocketResponse()))
                self._changed.notify_all()
            return web.Response(status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = FakeConnection(ws)
        async with self._changed:
            self.connections.append(conn)
            self._changed.notify_all()
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            async with self._changed:
                conn.frames.append(msg.data)
                self._changed.notify_all()
            if json.loads(msg.data)["type"] == "tpa_connection_init":
                if self.reject_init is not None:
                    await conn.send(self.reject_init)
                    await conn.close(1008, str(self.reject_init.get("message", "")))
                else:
                    await conn.send(self.ack)
        conn.closed.set()
        return ws

    async def wait(self, predicate, timeout: float = 5.0) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except TimeoutError:
                raise AssertionError(
                    f"fake cloud: condition not met; frames: {[c.frames for c in self.connections]}"
                ) from None

    async def connection(self, index: int, timeout: float = 5.0) -> FakeConnection:
        await self.wait(lambda: len(self.connections) > index, timeout)
        return self.connections[index]

    async def frames(self, index: int, count: int, timeout: float = 5.0) -> list[str]:
        """The first `count` frames of connection `index`, once they arrived."""
        await self.wait(
            lambda: len(self.connections) > index and len(self.connections[index].frames) >= count,
            timeout,
        )
        return self.connections[index].frames[:count]
