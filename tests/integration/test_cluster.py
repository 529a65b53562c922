"""Cluster mode with a real Redis and two real nodes in this process (each a whole
`GlasscloudServer` on its own loopback port, one shared SQLite file): takeover, REST
forwarding, an App knocking at the wrong node, Redis going away under the nodes, and the
control messages every node must hear. Killed, paused and draining nodes are real
processes: tests/integration/test_cluster_processes.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.server.app import GlasscloudServer
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import FrameInbox
from tests.support.redis_server import RedisServer, needs_redis
from tests.support.scenarios import glasses_for, is_running_change, register_app
from tests.support.servers import http_base, make_config, token_for, ws_base

pytestmark = needs_redis

USER = "ada@example.com"
PKG = "com.example.captions"
LEASE = 2.0

MakeNode = Callable[[str], Awaitable[GlasscloudServer]]


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    return redis_server


@pytest.fixture
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database every node shares: a SQLite file, or (parametrized) a real PostgreSQL."""
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{tmp_path / 'glasscloud.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def make_node(tmp_path: Path, redis: RedisServer, database: str) -> AsyncIterator[MakeNode]:
    nodes: list[GlasscloudServer] = []

    async def make(node_id: str) -> GlasscloudServer:
        config = make_config(
            tmp_path, database=database, redis=redis.url, node_id=node_id, lease_seconds=LEASE
        )
        node = await start_server(config)
        nodes.append(node)
        return node

    yield make
    stuck = []
    for node in reversed(nodes):
        try:
            async with asyncio.timeout(30):
                await stop_server(node)
        except TimeoutError:
            stuck.append(node.config.node_id)
        except Exception:  # a node the test broke on purpose may fail to stop
            pass
    # a shutdown that hangs is a bug to see, not a CI run that never ends
    assert not stuck, f"stop_server did not finish within 30 s for {stuck}"


def auth(node: GlasscloudServer, user: str = USER) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(node, user)}"}


def developer(node: GlasscloudServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_developer_token(node.secret, 'ops@example.com')}"}


async def running_on(node: GlasscloudServer, http, package: str = PKG) -> FrameInbox:
    glasses = await glasses_for(node, http, USER)
    await glasses.send({"type": "start_app", "packageName": package})
    await glasses.wait_for("app_state_change", is_running_change(package), timeout=5)
    return glasses


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


def shows(text: str) -> Callable[[dict], bool]:
    return lambda m: m.get("view") == "main" and m["layout"].get("text") == text


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_glasses_at_another_node_take_the_session_over(make_node, http):
    a, b = await make_node("node-a"), await make_node("node-b")
    app = await register_app(a, http, app_type="standard")
    old = await running_on(a, http)
    await app.inboxes[USER].send(
        {
            "type": "display_event",
            "view": "main",
            "layout": {"layoutType": "text_wall", "text": "caption on a"},
        }
    )
    await old.wait_for("display_event", shows("caption on a"))
    first_epoch = a.cluster.owned[USER]

    glasses = await connect_to(b, http)
    ack = await glasses.wait_for("connection_ack")
    assert ack["userSession"]["loadingApps"] == [PKG]  # the session came along
    assert await old.wait_closed() == 1000  # replaced
    request = await app.wait_webhook("session_request", 2)
    assert request["mentraOSWebsocketUrl"] == ws_base(b) + "/app-ws"  # the owner's own URL
    await glasses.wait_for("app_state_change", is_running_change(PKG), timeout=5)
    await glasses.wait_for("display_event", shows("caption on a"))  # what the user saw
    assert [w["type"] for w in app.webhooks] == ["session_request", "session_request"]
    assert a.cluster.owned == {} and b.cluster.owned[USER] > first_epoch
    assert (await b.store.get_user(USER)).owner_epoch == b.cluster.owned[USER]
    # a is out of it: what the App still sends on its old socket goes nowhere
    assert a.registry.get(USER) is None
    await asyncio.sleep(0.3)
    assert [w["type"] for w in app.webhooks] == ["session_request", "session_request"]


async def connect_to(node: GlasscloudServer, http, user: str = USER) -> FrameInbox:
    from tests.support.clients import connect_glasses

    return await connect_glasses(http, ws_base(node), token_for(node, user), node.cluster.node_id)


async def test_rest_calls_for_a_user_reach_the_owner_from_any_node(make_node, http):
    a, b = await make_node("node-a"), await make_node("node-b")
    app = await register_app(a, http, app_type="standard")
    glasses = await running_on(b, http)
    # listed from a: the states b knows
    listed = await http.get(http_base(a) + "/apps", headers=auth(a))
    assert listed.headers["X-Glasscloud-Served-By"] == "node-b"
    states = {e["packageName"]: e["state"] for e in (await listed.json())["data"]}
    assert states[PKG] == "running"
    # stopped from a: b stops it, the answer says so only once it is stopped
    stopped = await http.post(http_base(a) + f"/apps/{PKG}/stop", headers=auth(a))
    assert stopped.status == 200 and stopped.headers["X-Glasscloud-Served-By"] == "node-b"
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    assert (await b.store.get_user(USER)).running_apps == ()
    # an honest failure: the App server refuses, b says 502 and a passes it on
    app.webhook_status = 500
    app.connect = False
    started = await http.post(http_base(a) + f"/apps/{PKG}/start", headers=auth(a))
    assert started.status == 502, await started.text()
    assert (await started.json())["error"]["stage"] == "WEBHOOK"
    assert a.registry.get(USER) is None  # a never opened a session of its own


async def test_an_app_knocking_at_the_wrong_node_is_sent_on_and_asked_again(make_node, http):
    a, b = await make_node("node-a"), await make_node("node-b")
    app = await register_app(a, http)
    await running_on(a, http)
    stale = await app.open_socket(ws_base(b) + "/app-ws", f"{USER}-{PKG}")
    error = await stale.wait_for("tpa_connection_error")
    assert error["code"] == "SESSION_ON_OTHER_NODE" and "node-a" in error["message"]
    assert await stale.wait_closed() == 1008
    await asyncio.sleep(0.3)
    # it runs on a with a live socket: a knock elsewhere does not disturb it
    assert [w["type"] for w in app.webhooks] == ["session_request"]
    await app.inboxes[USER].close()  # now a has lost it (grace period)
    knock = await app.open_socket(ws_base(b) + "/app-ws", f"{USER}-{PKG}")
    await knock.wait_for("tpa_connection_error")
    request = await app.wait_webhook("session_request", 2)  # a asks again, with its URL
    assert request["mentraOSWebsocketUrl"] == ws_base(a) + "/app-ws"


async def test_redis_going_away_keeps_current_users_and_refuses_new_ones(make_node, redis, http):
    a, b = await make_node("node-a"), await make_node("node-b")
    app = await register_app(a, http)
    app.subscriptions = ["button_press"]
    glasses = await running_on(a, http)
    await redis.stop()
    await asyncio.sleep(0.2)
    # the user a serves keeps being served
    await glasses.send({"type": "button_press", "buttonId": "main", "pressType": "short"})
    event = await app.inboxes[USER].wait_for("data_stream", timeout=5)
    assert event["data"]["buttonId"] == "main"
    # a new user cannot be placed: a coded error, and a close that says "try again later"
    newcomer = await connect_to(b, http, "bob@example.com")
    refusal = await newcomer.wait_for("connection_error")
    assert refusal["code"] == "CLUSTER_UNAVAILABLE"
    assert await newcomer.wait_closed() == 1013
    await until(lambda: not a.cluster.redis_up, timeout=LEASE * 2)
    # Redis comes back empty: a puts its lease back, and new users are placed again
    await redis.start()
    await until(lambda: a.cluster.redis_up, timeout=LEASE * 3)
    owner = await a.cluster.leases.owner(USER)
    assert owner == ("node-a", a.cluster.owned[USER])
    again = await connect_to(b, http, "bob@example.com")
    await again.wait_for("connection_ack")


async def test_every_node_hears_key_rotations_app_changes_and_serves_the_cluster_view(
    make_node, http
):
    a, b = await make_node("node-a"), await make_node("node-b")
    app = await register_app(a, http)
    await running_on(b, http)
    old_key = app.api_key
    # the operator's views, from either node, cover both (fresh within a renewal period)
    for node in (a, b):
        async with asyncio.timeout(LEASE * 2):
            while True:
                listed = await (
                    await http.get(http_base(node) + "/api/admin/sessions", headers=developer(node))
                ).json()
                if listed["sessions"]:
                    break
                await asyncio.sleep(0.1)
        assert [(s["userId"], s["node"]) for s in listed["sessions"]] == [(USER, "node-b")]
        cluster = await (
            await http.get(http_base(node) + "/api/admin/cluster", headers=developer(node))
        ).json()
        assert sorted(n["nodeId"] for n in cluster["nodes"]) == ["node-a", "node-b"]
        users = {n["nodeId"]: n["users"] for n in cluster["nodes"]}
        assert users["node-b"] == 1
    scrape = await (await http.get(http_base(a) + "/metrics", headers=developer(a))).text()
    assert 'glasscloud_cluster_owned_users{node="node-a"} 0.0' in scrape
    # a key rotated through a: b closes the App's socket that proved the old key at once
    rotated = await http.post(http_base(a) + f"/api/dev/apps/{PKG}/api-key", headers=developer(a))
    assert rotated.status == 200
    assert await app.inboxes[USER].wait_closed(timeout=3) is not None
    refused = await app.open_socket(ws_base(b) + "/app-ws", f"{USER}-{PKG}", api_key=old_key)
    assert (await refused.wait_for("tpa_connection_error"))["code"] == "INVALID_API_KEY"


async def test_cluster_status_from_the_command_line(make_node, redis, http):
    import json
    import sys

    a = await make_node("node-a")
    await make_node("node-b")
    await running_on(a, http, package=(await register_app(a, http)).package)

    async def status(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "glasscloud",
            "cluster",
            "status",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()

    async with asyncio.timeout(20):  # a announces its user at its next renewal
        while True:
            code, out, _ = await status("--redis", redis.url, "--json")
            nodes = {n["nodeId"]: n for n in json.loads(out)["nodes"]}
            if nodes.get("node-a", {}).get("users") == 1:
                break
            await asyncio.sleep(0.2)
    assert code == 0 and sorted(nodes) == ["node-a", "node-b"]
    assert nodes["node-a"]["publicUrl"] == http_base(a)
    code, table, _ = await status("--redis", redis.url)
    assert code == 0 and "node-a" in table and "node-b" in table
    code, _, err = await status()
    assert code == 2 and "--redis" in err


async def test_a_second_node_with_a_live_nodes_id_is_refused(make_node):
    await make_node("node-a")
    with pytest.raises(ConnectionError, match="node id node-a is in use by a live node"):
        await make_node("node-a")


async def test_the_console_mirror_follows_the_user_across_nodes(make_node, http):
    from tests.integration.test_console import read_events

    a, b = await make_node("node-a"), await make_node("node-b")
    app = await register_app(a, http, app_type="standard")
    await running_on(b, http)
    url = f"{http_base(a)}/api/admin/mirror/{USER}"  # asked of a, the user is on b
    async with http.get(url, headers=developer(a)) as stream:
        assert stream.status == 200
        first = await read_events(stream, lambda e: e["type"] == "snapshot")
        assert first[0]["type"] == "session" and first[0]["live"] is True
        await app.inboxes[USER].send(
            {"type": "display_event", "view": "main",
             "layout": {"layoutType": "text_wall", "text": "drawn through b"}}
        )
        events = await read_events(stream, lambda e: e["type"] == "main")
        assert events[-1]["frame"]["layout"]["text"] == "drawn through b"
        # the user moves to a: the same stream now shows a's session, snapshot first
        moved = await connect_to(a, http)
        await moved.wait_for("app_state_change", is_running_change(PKG), timeout=5)
        events = await read_events(
            stream, lambda e: e["type"] == "snapshot" and e.get("main") is not None, timeout=8
        )
        assert a.registry.get(USER) is not None and a.registry.get(USER).ctx.mirror is not None
