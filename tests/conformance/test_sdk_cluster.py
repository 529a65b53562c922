"""Cluster mode with the real, unmodified `@mentra/sdk` App and real `glasscloud serve`
nodes on one Redis: the App follows its user from node to node (takeover, `kill -9` of the
owner, `SIGTERM` drain), its display comes back on the glasses, captions flow again, and the
SDK never hears a stop (a late stop webhook would end its new session)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_faults import said
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.cluster_nodes import ClusterNodes
from tests.support.redis_server import free_port, needs_redis
from tests.support.server_process import ServerProcess

pytestmark = needs_redis

PACKAGE = "com.example.sdkcluster"
USER = "grace@example.com"
LEASE = 3.0
SCHEMA = (
    {"key": "captionSize", "label": "Caption size", "type": "slider", "min": 1, "max": 5,
     "defaultValue": 3},
)


@pytest.fixture
async def sdk(cluster: ClusterNodes) -> AsyncIterator[SdkApp]:
    ensure_installed()
    port = free_port()
    store = await cluster.store()
    try:
        _, key = await store.create_app(
            PACKAGE,
            "SDK cluster",
            f"http://127.0.0.1:{port}",
            app_type="standard",
            permissions=("MICROPHONE",),
            settings_schema=SCHEMA,
        )
    finally:
        await store.close()
    app = SdkApp(extra_env={"SETTINGS_WATCH": "captionSize"})
    await app.start(PACKAGE, key, port)
    try:
        yield app
    finally:
        await app.stop()


def running(message: dict) -> bool:
    return PACKAGE in message["userSession"]["activeAppSessions"]


def showing(text: str):
    return lambda m: m.get("view") == "main" and m["layout"].get("text") == text


async def glasses_on(cluster, http, node: ServerProcess, name: str) -> FrameInbox:
    return await connect_glasses(http, node.ws_base, cluster.token(USER), name)


async def captions_reach_the_app(glasses: FrameInbox, sdk: SdkApp, text: str) -> None:
    """Captions flow again: said on the glasses, heard by the App, shown back."""
    for _ in range(40):  # until the SDK's subscription is back in place
        await glasses.send(said(text))
        try:
            await sdk.wait_for("transcription", lambda e: e["data"]["text"] == text, timeout=0.5)
            break
        except AssertionError:
            continue
    else:
        raise AssertionError(f"the App never heard {text!r}")
    await glasses.wait_for("display_event", showing("You said: " + text), timeout=5)


async def started_on(cluster, http, sdk, node: ServerProcess) -> FrameInbox:
    glasses = await glasses_on(cluster, http, node, node.name)
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": PACKAGE})
    await glasses.wait_for("display_event", showing("SDK app ready"), timeout=15)
    await captions_reach_the_app(glasses, sdk, "hello from " + node.name)
    return glasses


def no_stop_was_heard(sdk: SdkApp) -> None:
    assert sdk.events_named("stop") == [], sdk.events_named("stop")


async def test_the_app_follows_its_user_to_another_node(cluster, sdk, http):
    a, b = await cluster.start("node-a"), await cluster.start("node-b")
    old = await started_on(cluster, http, sdk, a)
    # the phone changes a setting through b: a, which serves the user, tells its live App
    phone = {"Authorization": f"Bearer {cluster.token(USER)}"}
    url = f"{b.http_base}/appsettings/{PACKAGE}"
    async with http.post(url, json={"key": "captionSize", "value": 5}, headers=phone) as resp:
        assert resp.status == 200 and resp.headers["X-Glasscloud-Served-By"] == "node-a"
    change = await sdk.wait_for("setting_change", timeout=10)
    assert (change["key"], change["newValue"]) == ("captionSize", 5)

    moved = await glasses_on(cluster, http, b, "moved")
    ack = await moved.wait_for("connection_ack")
    assert ack["userSession"]["loadingApps"] == [PACKAGE]
    assert await old.wait_closed() == 1000
    await moved.wait_for("display_event", showing("SDK app ready"), timeout=15)
    sessions = await sdk.wait_for("session", lambda e: True, timeout=5)
    assert sessions["sessionId"] == f"{USER}-{PACKAGE}"
    await captions_reach_the_app(moved, sdk, "hello after the move")
    assert len(sdk.events_named("session")) == 2  # b's session_request: a new onSession
    kept = sdk.events_named("settings")[-1]["settings"]  # what the new session got from b
    assert {s["key"]: s.get("value") for s in kept}["captionSize"] == 5
    no_stop_was_heard(sdk)


async def test_kill_9_of_the_owner_moves_its_users_within_the_lease(cluster, sdk, http):
    a, b = await cluster.start("node-a"), await cluster.start("node-b")
    glasses = await started_on(cluster, http, sdk, a)
    await a.kill()
    assert await glasses.wait_closed(timeout=5) is not None
    killed_at = time.monotonic()
    again = await glasses_on(cluster, http, b, "again")
    ack = await again.wait_for("connection_ack", timeout=2)  # accepted at once
    assert time.monotonic() - killed_at < 2.0
    assert ack["userSession"]["activeAppSessions"] == []  # a's lease still held
    await again.wait_for("display_event", showing("SDK app ready"), timeout=LEASE + 10)
    back_after = time.monotonic() - killed_at
    assert back_after < LEASE + 6, back_after
    await again.wait_for("app_state_change", running, timeout=5)
    await captions_reach_the_app(again, sdk, "hello after the crash")
    no_stop_was_heard(sdk)
    assert b.log_messages("took the user over after the old lease expired")


async def test_sigterm_drains_a_node_and_its_users_move_without_a_lease_wait(
    cluster, sdk, http
):
    a, b = await cluster.start("node-a"), await cluster.start("node-b")
    c = await cluster.start("node-c")
    glasses = await started_on(cluster, http, sdk, a)
    draining_since = time.monotonic()
    stopped = asyncio.ensure_future(a.terminate())
    assert await glasses.wait_closed(timeout=5) == 1012
    again = await glasses_on(cluster, http, b, "again")
    await again.wait_for("connection_ack")
    await again.wait_for("display_event", showing("SDK app ready"), timeout=10)
    assert time.monotonic() - draining_since < 5.0  # no lease wait
    assert await asyncio.wait_for(stopped, 15) == 0
    assert time.monotonic() - draining_since < 8.0
    await captions_reach_the_app(again, sdk, "hello after the drain")
    no_stop_was_heard(sdk)
    # a REST call through the third node reaches b, which serves the user now
    async with http.get(
        c.http_base + "/apps", headers={"Authorization": f"Bearer {cluster.token(USER)}"}
    ) as listed:
        assert listed.headers["X-Glasscloud-Served-By"] == "node-b"
        states = {e["packageName"]: e["state"] for e in (await listed.json())["data"]}
    assert states[PACKAGE] == "running"
