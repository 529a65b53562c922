"""The glasses simulator's reconnect: the policy (which closes are final, the backoff) as pure
functions, and the client against a scripted stand-in for `/glasses-ws` on 127.0.0.1 that
closes with 1012, refuses connections, drops the TCP connection or refuses the token.

The backoff's waits go through an injected `sleep` that records each delay and returns at
once (or when the test lets it), so no test waits for real time and every step is ordered by
the test, not by a timer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from glasscloud.simulator import GlassesSimulator
from glasscloud.simulator.reconnect import (
    PHONE_BACKOFF,
    Backoff,
    Verdict,
    after_close,
    after_refused_upgrade,
    after_unreachable,
)

# -- the policy ------------------------------------------------------------------------------


def test_backoff_doubles_from_half_a_second_up_to_ten_and_goes_on():
    delays = [PHONE_BACKOFF.delay(n) for n in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert PHONE_BACKOFF.delay(100_000) == 10.0  # hours of retrying stay a finite float


def test_backoff_is_bounded_when_asked():
    backoff = Backoff(first=0.1, factor=3, cap=1.0, max_attempts=4)
    assert [backoff.delay(n) for n in range(5)] == [0.1, pytest.approx(0.3), 0.9, 1.0, None]


@pytest.mark.parametrize(
    ("code", "error", "reconnect", "reason"),
    [
        (1012, None, True, "server restarting (code 1012)"),
        (1006, None, True, "connection lost (code 1006)"),
        (None, None, True, "connection lost (code 1006)"),
        (1001, None, True, "server going away (code 1001)"),
        (1011, None, True, "server error (code 1011)"),
        (1013, None, True, "server busy (code 1013)"),
        (1000, "SESSION_REPLACED", False, "replaced by a newer connection for this user"),
        (1012, "SESSION_REPLACED", False, "replaced by a newer connection"),
        (1008, "INVALID_TOKEN", False, "refused: INVALID_TOKEN (code 1008)"),
        (1008, None, False, "refused by the server (code 1008)"),
        (1000, None, False, "closed by the server (code 1000)"),
        (1003, None, False, "closed by the server (code 1003)"),
    ],
)
def test_which_closes_are_reconnected(code, error, reconnect, reason):
    verdict = after_close(code, error)
    assert verdict.reconnect is reconnect
    assert reason in verdict.reason


@pytest.mark.parametrize(
    ("status", "reconnect", "reason"),
    [
        (401, False, "the server refused the token (HTTP 401)"),
        (403, False, "the server refused the token (HTTP 403)"),
        (429, False, "the server refused the connection (HTTP 429)"),
        (404, False, "the server refused the connection (HTTP 404)"),
        (502, True, "server unavailable (HTTP 502)"),
        (503, True, "server unavailable (HTTP 503)"),
    ],
)
def test_which_refused_upgrades_are_retried(status, reconnect, reason):
    assert after_refused_upgrade(status) == Verdict(reconnect, reason)


def test_an_unreachable_server_is_retried():
    assert after_unreachable("connection refused") == Verdict(
        True, "cannot connect: connection refused"
    )


# -- a scripted /glasses-ws on loopback --------------------------------------------------------

Script = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ScriptedCloud:
    """Each glasses connection runs the next script. Records the frames each connection
    received; can stop listening (connections are refused) and listen again on its port."""

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.received: list[list[dict[str, Any]]] = []
        self.arrived = asyncio.Condition()
        self.port = 0
        self._recorders: dict[int, asyncio.Task[None]] = {}
        app = web.Application()
        app.router.add_get("/glasses-ws", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._site: web.TCPSite | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/glasses-ws"

    async def listen(self) -> None:
        if self._runner.server is None:
            await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self.port = self.port or self._runner.addresses[0][1]

    async def stop_listening(self) -> None:
        """New connections are refused; open ones stay."""
        assert self._site is not None
        await self._site.stop()
        self._site = None

    async def close(self) -> None:
        await self._runner.cleanup()

    async def accept(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        frames: list[dict[str, Any]] = []
        self.received.append(frames)
        self._recorders[id(request)] = asyncio.create_task(self._record(ws, frames))
        return ws

    async def frames(self, connection: int, count: int) -> list[dict[str, Any]]:
        """Connection `connection`'s frames once it has received `count` of them."""
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(
                    lambda: (
                        len(self.received) > connection and len(self.received[connection]) >= count
                    )
                ),
                5,
            )
        return self.received[connection]

    async def _record(self, ws: web.WebSocketResponse, frames: list[dict[str, Any]]) -> None:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                frames.append(json.loads(msg.data))
                async with self.arrived:
                    self.arrived.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        response = await self.scripts.pop(0)(request)
        if recorder := self._recorders.pop(id(request), None):
            await recorder  # until the socket has closed
        return response


def ack(*running: str) -> dict[str, Any]:
    return {
        "type": "connection_ack",
        "sessionId": "a@example.com",
        "userSession": {"activeAppSessions": list(running), "loadingApps": []},
    }


def text(words: str) -> dict[str, Any]:
    return {
        "type": "display_event",
        "view": "main",
        "packageName": "com.a",
        "layout": {"layoutType": "text_wall", "text": words},
    }


class Typed:
    """Lines typed by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    def __aiter__(self) -> Typed:
        return self

    async def __anext__(self) -> str:
        line = await self.queue.get()
        if line is None:
            raise StopAsyncIteration
        return line


class Waits:
    """The simulator's `sleep`: records each delay; `on_wait` runs inside the n-th wait (from
    1), e.g. to bring the server back; `hold` keeps a wait pending until released."""

    def __init__(self, on_wait: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.delays: list[float] = []
        self.on_wait = on_wait
        self.hold: asyncio.Event | None = None
        self.waiting = asyncio.Event()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.waiting.set()
        if self.on_wait is not None:
            await self.on_wait(len(self.delays))
        if self.hold is not None:
            await self.hold.wait()


@pytest.fixture
async def cloud():
    scripted = ScriptedCloud()
    await scripted.listen()
    try:
        yield scripted
    finally:
        await scripted.close()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def simulator(cloud: ScriptedCloud, out: list[str], waits: Waits, **backoff: Any):
    return GlassesSimulator(
        cloud.url,
        "token",
        out=out.append,
        backoff=Backoff(**{"first": 0.25, "cap": 1.0, "max_attempts": 4, **backoff}),
        sleep=waits,
        heartbeat=None,
    )


def status_lines(out: list[str]) -> list[str]:
    """Each distinct `connection:` line the simulator drew, in order."""
    lines: list[str] = []
    for block in out:
        for line in block.splitlines():
            if line.startswith("connection:") and (not lines or lines[-1] != line):
                lines.append(line)
    return lines


async def test_reconnects_after_a_restart_and_a_refused_connection_and_resumes(cloud, http):
    restart = asyncio.Event()

    async def before_restart(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack())
        await ws.send_json(text("before the restart"))
        await restart.wait()
        await cloud.stop_listening()  # the next connection attempt is refused
        await ws.close(code=1012, message=b"Server restarting")
        return ws

    async def after_restart(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack("com.a"))
        return ws

    async def back_on_second_wait(wait: int) -> None:
        if wait == 2:
            await cloud.listen()

    cloud.scripts = [before_restart, after_restart]
    out: list[str] = []
    waits = Waits(back_on_second_wait)
    sim = simulator(cloud, out, waits)
    await sim.connect(http)
    typed = Typed()
    loop = asyncio.create_task(sim.run(typed))
    await sim.wait_for_screen(lambda s: "before the restart" in s)
    typed.queue.put_nowait("press")
    assert [f["type"] for f in await cloud.frames(0, 1)] == ["button_press"]

    restart.set()
    screen = await sim.wait_for_screen(lambda s: "com.a (running)" in s)

    assert waits.delays == [0.25, 0.5]
    assert status_lines(out) == [
        "connection: reconnecting in 0.25 s (attempt 1): server restarting (code 1012)",
        "connection: reconnecting in 0.5 s (attempt 2): cannot connect: connection refused",
    ]
    assert f"reconnected to {cloud.url}" in out
    assert "connection:" not in screen  # connected again: no status to show
    assert "before the restart" not in screen  # the new connection's display starts clean
    assert not loop.done()

    typed.queue.put_nowait("head up")
    frames = await cloud.frames(1, 1)
    assert [f["type"] for f in frames] == ["head_position"]  # nothing re-sent from before
    typed.queue.put_nowait("quit")
    await asyncio.wait_for(loop, 5)
    assert len(cloud.received) == 2 and cloud.scripts == []


async def test_the_attempts_start_again_after_a_connection_is_accepted(cloud, http):
    async def restarting(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack())
        await ws.close(code=1012)
        return ws

    async def stays(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack("com.a"))
        return ws

    cloud.scripts = [restarting, restarting, restarting, stays]
    out: list[str] = []
    waits = Waits()
    sim = simulator(cloud, out, waits, max_attempts=2)
    await sim.connect(http)
    loop = asyncio.create_task(sim.run(Typed()))
    await sim.wait_for_screen(lambda s: "com.a (running)" in s)
    # Three restarts in a row, each after an acknowledged connection: never more than one
    # attempt in a row, so the bound of 2 is never reached and the delay never grows.
    assert waits.delays == [0.25, 0.25, 0.25]
    await sim.close()
    await asyncio.wait_for(loop, 5)


async def test_commands_typed_while_reconnecting_are_refused_not_queued(cloud, http):
    async def restarting(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack())
        await ws.close(code=1012)
        return ws

    async def stays(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack("com.a"))
        return ws

    cloud.scripts = [restarting, stays]
    out: list[str] = []
    waits = Waits()
    waits.hold = asyncio.Event()
    sim = simulator(cloud, out, waits)
    await sim.connect(http)
    typed = Typed()
    loop = asyncio.create_task(sim.run(typed))
    await asyncio.wait_for(waits.waiting.wait(), 5)  # disconnected, waiting to retry
    typed.queue.put_nowait("start com.b")
    typed.queue.put_nowait("show")  # runs after `start`, so `start` has been refused
    await sim.wait_for_screen(lambda s: "reconnecting in 0.25 s" in s and "not sent" in out[-2])
    assert out[-2] == (
        "not sent: not connected (reconnecting in 0.25 s (attempt 1): "
        "server restarting (code 1012))"
    )
    waits.hold.set()
    await sim.wait_for_screen(lambda s: "com.a (running)" in s)
    typed.queue.put_nowait("stop com.a")
    frames = await cloud.frames(1, 1)
    assert [(f["type"], f["packageName"]) for f in frames] == [("stop_app", "com.a")]
    assert cloud.received[0] == []
    typed.queue.put_nowait(None)
    await asyncio.wait_for(loop, 5)


async def test_a_killed_server_is_retried_until_the_attempts_run_out(cloud, http):
    async def killed(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack("com.a"))
        await cloud.stop_listening()
        assert request.transport is not None
        request.transport.abort()  # no close frame: the client sees 1006
        return ws

    cloud.scripts = [killed]
    out: list[str] = []
    waits = Waits()
    sim = simulator(cloud, out, waits, max_attempts=3)
    await sim.connect(http)
    await asyncio.wait_for(sim.run(Typed()), 5)  # ends by itself
    assert waits.delays == [0.25, 0.5, 1.0]
    assert status_lines(out) == [
        "connection: reconnecting in 0.25 s (attempt 1): connection lost (code 1006)",
        "connection: reconnecting in 0.5 s (attempt 2): cannot connect: connection refused",
        "connection: reconnecting in 1 s (attempt 3): cannot connect: connection refused",
        "connection: closed, not reconnecting: gave up after 3 attempts; "
        "cannot connect: connection refused",
    ]


async def test_a_replaced_session_is_final(cloud, http):
    async def replaced(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack("com.a"))
        await ws.send_json(
            {
                "type": "connection_error",
                "code": "SESSION_REPLACED",
                "message": "A newer connection for this user took over this session.",
            }
        )
        await ws.close(code=1000, message=b"Replaced by a newer connection")
        return ws

    cloud.scripts = [replaced]
    out: list[str] = []
    waits = Waits()
    sim = simulator(cloud, out, waits)
    await sim.connect(http)
    await asyncio.wait_for(sim.run(Typed()), 5)
    assert waits.delays == [] and len(cloud.received) == 1
    assert sim.screen.splitlines()[-2:] == [
        "connection: closed, not reconnecting: replaced by a newer connection for this user "
        "(code 1000)",
        "! error SESSION_REPLACED: A newer connection for this user took over this session.",
    ]


@pytest.mark.parametrize("refusal", ["policy close", "HTTP 401"])
async def test_an_authentication_refusal_is_final(cloud, http, refusal):
    async def restarting(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(ack())
        await ws.close(code=1012)
        return ws

    async def refused_by_message(request: web.Request) -> web.StreamResponse:
        ws = await cloud.accept(request)
        await ws.send_json(
            {"type": "connection_error", "code": "INVALID_TOKEN", "message": "Bad token."}
        )
        await ws.close(code=1008, message=b"Authentication failed")
        return ws

    async def refused_at_upgrade(request: web.Request) -> web.StreamResponse:
        return web.json_response({"type": "connection_error", "code": "INVALID_TOKEN"}, status=401)

    if refusal == "policy close":
        cloud.scripts = [refused_by_message]
        expected = "refused: INVALID_TOKEN (code 1008)"
    else:
        cloud.scripts = [restarting, refused_at_upgrade]
        expected = "the server refused the token (HTTP 401)"
    out: list[str] = []
    waits = Waits()
    sim = simulator(cloud, out, waits)
    await sim.connect(http)
    await asyncio.wait_for(sim.run(Typed()), 5)
    assert status_lines(out)[-1] == f"connection: closed, not reconnecting: {expected}"
    assert len(waits.delays) == (0 if refusal == "policy close" else 1)
    assert cloud.scripts == []
