"""Fuzzing both WebSocket endpoints of a real server with random and mutated frames
(hypothesis): the server answers with coded errors, stays up, and another user's session
keeps receiving its stream throughout.

The server, a victim user (glasses + App) and an attacker user (glasses + App) live on one
event loop in a background thread for the whole module; each hypothesis example runs its
frames on that loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glasscloud.protocol.errors import ErrorCode
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.scenarios import register_app
from tests.support.servers import make_config, token_for, ws_base
from tests.unit.test_protocol import APP_MESSAGES, GLASSES_MESSAGES

VICTIM = "victim@example.com"
ATTACKER = "attacker@example.com"
CODES = {c.value for c in ErrorCode}


class World:
    """Everything the examples share, owned by the background loop."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.counter = itertools.count()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._setup())
        self.ready.set()
        self.loop.run_forever()

    async def _setup(self) -> None:
        self.server = await start_server(
            make_config(
                self.tmp,
                connection_rate=10_000.0,
                connection_burst=10_000.0,
                user_rate=10_000.0,
                user_burst=10_000.0,
            )
        )
        self.http = aiohttp.ClientSession()
        self.victim_app = await register_app(self.server, self.http, "com.example.victim")
        self.victim_app.subscriptions = ["button_press"]
        self.attacker_app = await register_app(self.server, self.http, "com.example.attacker")
        self.victim = await self._glasses(VICTIM, self.victim_app)
        self.attacker = await self._glasses(ATTACKER, self.attacker_app)

    async def _glasses(self, user: str, app) -> FrameInbox:
        glasses = await connect_glasses(
            self.http, ws_base(self.server), token_for(self.server, user), user
        )
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": app.package})
        await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
        return glasses

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def teardown(self) -> None:
        await self.victim_app.stop()
        await self.attacker_app.stop()
        await self.http.close()
        await stop_server(self.server)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(tmp_path_factory.mktemp("fuzz"))
    w.thread.start()
    assert w.ready.wait(30), "fuzz world did not start"
    yield w
    w.run(w.teardown())
    w.loop.call_soon_threadsafe(w.loop.stop)
    w.thread.join(10)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict[str, Any]]) -> str:
    obj = dict(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from([*obj, "type", "packageName", "layout", "subscriptions"]))
        obj[key] = draw(json_values)
    return json.dumps(obj)


def frames(bases: list[dict[str, Any]]) -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        mutated(bases),
        st.text(max_size=60),
        st.binary(max_size=64),
        json_values.map(json.dumps),
    )


async def _probe_victim(world: World) -> None:
    """The victim's stream still flows, unchanged, to the victim's App only."""
    marker = f"probe-{next(world.counter)}"
    await world.victim.send({"type": "button_press", "buttonId": marker, "pressType": "short"})
    inbox = world.victim_app.inboxes[VICTIM]
    got = await inbox.wait_for("data_stream", lambda m: m["data"].get("buttonId") == marker)
    assert got["streamType"] == "button_press"
    assert inbox.close_code is None


def _codes(inbox: FrameInbox, kinds: tuple[str, ...]) -> set[str]:
    return {m.get("code") for m in inbox.messages if m.get("type") in kinds}


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames(GLASSES_MESSAGES), min_size=1, max_size=12))
def test_fuzzed_glasses_frames(world: World, batch: list[str | bytes]) -> None:
    async def scenario() -> None:
        ws = world.attacker.ws
        for frame in batch:
            if ws.closed:
                break
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        await _probe_victim(world)
        assert _codes(world.attacker, ("connection_error",)) <= CODES
        assert world.server.registry.get(VICTIM) is not None

    world.run(scenario())


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(frames(APP_MESSAGES), min_size=1, max_size=12))
def test_fuzzed_app_frames_after_and_before_auth(world: World, batch: list[str | bytes]) -> None:
    async def scenario() -> None:
        app_inbox = world.attacker_app.inboxes[ATTACKER]
        fresh = FrameInbox(
            await world.http.ws_connect(f"{ws_base(world.server)}/app-ws"), "unauthenticated"
        )
        for frame in batch:
            for target in (app_inbox.ws, fresh.ws):
                if target.closed:
                    continue
                if isinstance(frame, bytes):
                    await target.send_bytes(frame)
                else:
                    await target.send_str(frame)
        await _probe_victim(world)
        assert _codes(app_inbox, ("tpa_connection_error",)) <= CODES
        await fresh.close()
        assert _codes(fresh, ("tpa_connection_error",)) <= CODES
        assert not [m for m in fresh.messages if m.get("type") == "data_stream"]

    world.run(scenario())
