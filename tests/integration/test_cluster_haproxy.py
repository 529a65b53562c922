"""The README's HAProxy config (examples/haproxy.cfg, run as it is, addresses filled in) in
front of two real `glasscloud serve` nodes on a real Redis: one user's glasses and phone
REST calls always reach one node, users spread over both, and a node killed (-9) or
draining (SIGTERM, /ready 503) is taken out, its users' glasses reconnecting through
HAProxy to the other node, which brings their Apps back."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from glasscloud.auth.app_tokens import issue_developer_token
from tests.support.clients import FrameInbox, PyApp
from tests.support.cluster_nodes import SECRET, ClusterNodes
from tests.support.haproxy_process import EXAMPLE_CONFIG, HAProxy, needs_haproxy
from tests.support.redis_server import RedisServer, needs_redis
from tests.support.scenarios import is_running_change
from tests.support.server_process import ServerProcess

pytestmark = [needs_redis, needs_haproxy]

LEASE = 3.0
PKG = "com.example.balanced"
USER = "lin@example.com"
NODES = ("node-a", "node-b")  # the server names of examples/haproxy.cfg
_probes = itertools.count()
DEVELOPER = {"Authorization": f"Bearer {issue_developer_token(SECRET, 'ops@example.com')}"}


class Balanced:
    """Redis, two nodes and HAProxy in front of them."""

    def __init__(self, cluster: ClusterNodes, nodes: dict[str, ServerProcess], lb: HAProxy):
        self.cluster = cluster
        self.nodes = nodes
        self.lb = lb

    def other(self, node_id: str) -> ServerProcess:
        return next(n for name, n in self.nodes.items() if name != node_id)

    async def glasses(
        self, http: aiohttp.ClientSession, user: str = USER, in_query: bool = False
    ) -> FrameInbox:
        """Glasses through HAProxy, the token in the header (or `?token=`), retried while
        HAProxy has no node to give (a few hundred ms around a node's death)."""
        token = self.cluster.token(user)
        url, headers = self.lb.ws_base + "/glasses-ws", {"Authorization": f"Bearer {token}"}
        if in_query:
            url, headers = f"{url}?token={token}", {}
        for _ in range(20):
            try:
                return FrameInbox(await http.ws_connect(url, headers=headers), user)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status != 503:
                    raise
                await asyncio.sleep(0.1)
        raise AssertionError("HAProxy gave no node for 2 s")

    async def serving(self, http: aiohttp.ClientSession, user: str = USER) -> str | None:
        """The node whose glasses socket for `user` is open now, each node asked about its
        own sessions (what it says of the others may be a third of a lease old)."""
        for node_id, node in self.nodes.items():
            if node.returncode is not None:
                continue
            async with http.get(node.http_base + "/api/admin/sessions", headers=DEVELOPER) as r:
                live = (await r.json())["sessions"]
            for s in live:
                if s["userId"] == user and s.get("node") == node_id and s["glassesConnected"]:
                    return node_id
        return None

    async def served_by(self, http: aiohttp.ClientSession, user: str = USER) -> str:
        node = await self.serving(http, user)
        assert node is not None, f"no node serves {user}'s glasses"
        return node


@pytest.fixture
async def balanced(tmp_path: Path) -> AsyncIterator[Balanced]:
    redis = await RedisServer(tmp_path / "redis").start()
    cluster = ClusterNodes(tmp_path, redis, lease_seconds=LEASE)
    lb: HAProxy | None = None
    try:
        started = await asyncio.gather(
            *(cluster.start(name, "--drain-delay", "2") for name in NODES)
        )
        nodes = dict(zip(NODES, started, strict=True))
        lb = await HAProxy(tmp_path, {name: n.port for name, n in nodes.items()}).start()
        yield Balanced(cluster, nodes, lb)
    finally:
        if lb is not None:
            await lb.stop()
        await cluster.stop_all()
        await redis.stop()


@pytest.fixture
async def app(balanced: Balanced, http: aiohttp.ClientSession) -> AsyncIterator[PyApp]:
    app = await PyApp(http, PKG, "").start()
    store = await balanced.cluster.store()
    try:
        _, app.api_key = await store.create_app(PKG, "Balanced", app.public_url)
    finally:
        await store.close()
    try:
        yield app
    finally:
        await app.stop()


def test_the_readme_shows_the_tested_config():
    readme = (EXAMPLE_CONFIG.parents[1] / "README.md").read_text()
    assert EXAMPLE_CONFIG.read_text().strip() in readme


async def running_through_the_balancer(balanced: Balanced, http, app: PyApp):
    glasses = await balanced.glasses(http)
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": PKG})
    await glasses.wait_for("app_state_change", is_running_change(PKG), timeout=10)
    owner = await balanced.served_by(http)
    hook = await app.wait_webhook("session_request")
    assert hook["mentraOSWebsocketUrl"].startswith(balanced.nodes[owner].ws_base)
    # HAProxy starts its servers one good check short of full health (one failure takes
    # them out); a second past its start they have passed a check, as in steady state
    await asyncio.sleep(max(0.0, balanced.lb.started_at + 1.0 - time.monotonic()))
    return glasses, owner


async def back_on(balanced: Balanced, http, app: PyApp, survivor: str, since: float):
    """Reconnect through HAProxy: the survivor takes the glasses at once and asks the App
    with its own URL. Returns (seconds to the ack, seconds to the App running)."""
    again = await balanced.glasses(http)
    ack = await again.wait_for("connection_ack", timeout=2)
    acked_after = time.monotonic() - since
    assert ack["type"] == "connection_ack"
    assert await balanced.served_by(http) == survivor
    await again.wait_for("app_state_change", is_running_change(PKG), timeout=LEASE + 6)
    running_after = time.monotonic() - since
    hook = await app.wait_webhook("session_request", count=2)
    assert hook["mentraOSWebsocketUrl"].startswith(balanced.nodes[survivor].ws_base)
    await rest_reaches_the_owner(balanced, http, survivor, expect_running=True)
    return acked_after, running_after


async def rest_reaches_the_owner(
    balanced: Balanced, http, owner: str, expect_running: bool | None = None
) -> None:
    """The phone's `GET /apps` through HAProxy is answered by the owner itself (not
    forwarded: no X-Glasscloud-Served-By); sent to the other node, it is forwarded there."""
    auth = {"Authorization": f"Bearer {balanced.cluster.token(USER)}"}
    probe = next(_probes)
    async with http.get(f"{balanced.lb.http_base}/apps?probe={probe}", headers=auth) as answer:
        assert answer.status == 200
        assert "X-Glasscloud-Served-By" not in answer.headers, "HAProxy sent it to a non-owner"
        states = {e["packageName"]: e["state"] for e in (await answer.json())["data"]}
    if expect_running is not None:
        assert (states.get(PKG) == "running") is expect_running, states
    # and HAProxy's request log names the owner as the node it chose
    await balanced.lb.wait_line(rf"glasscloud_nodes/{owner} .*GET /apps\?probe={probe} ", 2)
    other = balanced.other(owner)
    if other.returncode is None:
        async with http.get(other.http_base + "/apps", headers=auth) as answer:
            assert answer.headers["X-Glasscloud-Served-By"] == owner


async def test_one_user_one_node_and_users_spread_over_both(balanced, http):
    first = await balanced.glasses(http)
    await first.wait_for("connection_ack")
    home = await balanced.served_by(http)
    await first.close()
    for round_ in range(4):  # header and ?token= alike: the hash is the token's user
        glasses = await balanced.glasses(http, in_query=round_ % 2 == 1)
        await glasses.wait_for("connection_ack")
        assert await balanced.served_by(http) == home, f"round {round_}"
        await glasses.close()
    glasses = await balanced.glasses(http)
    await glasses.wait_for("connection_ack")
    await rest_reaches_the_owner(balanced, http, home)

    users = [f"user{i}@example.com" for i in range(20)]
    others = await asyncio.gather(*(balanced.glasses(http, u) for u in users))
    await asyncio.gather(*(g.wait_for("connection_ack") for g in others))
    where = await asyncio.gather(*(balanced.served_by(http, u) for u in users))
    counts = {node: where.count(node) for node in NODES}
    print(f"20 users through HAProxy: {counts}")
    assert all(counts.values()), counts  # both nodes serve some (the hash is deterministic)


async def test_kill_9_of_the_owner_the_glasses_and_app_move_through_haproxy(balanced, app, http):
    glasses, owner = await running_through_the_balancer(balanced, http, app)
    await rest_reaches_the_owner(balanced, http, owner, expect_running=True)
    survivor = balanced.other(owner).name
    await balanced.nodes[owner].kill()
    killed_at = time.monotonic()
    assert await glasses.wait_closed(timeout=5) is not None
    acked, running = await back_on(balanced, http, app, survivor, killed_at)
    print(f"kill -9: ack {acked:.2f}s, App {running:.2f}s")
    assert acked < 2.0, acked
    assert running < LEASE + 4, running
    await balanced.lb.wait_line(rf"Server glasscloud_nodes/{owner} is DOWN", timeout=3)


async def test_a_draining_node_is_taken_out_and_its_users_move(balanced, app, http):
    glasses, owner = await running_through_the_balancer(balanced, http, app)
    survivor = balanced.other(owner).name
    draining_since = time.monotonic()
    stopped = asyncio.ensure_future(balanced.nodes[owner].terminate())
    down = await balanced.lb.wait_line(rf"Server glasscloud_nodes/{owner} is DOWN", timeout=2)
    assert "503" in down, down  # /ready said so, while the node still answers everything
    taken_out = time.monotonic() - draining_since
    assert taken_out < 1.5, taken_out  # two failed checks, 250-500 ms apart
    assert await glasses.wait_closed(timeout=5) == 1012  # after the drain delay (2 s)
    acked, running = await back_on(balanced, http, app, survivor, draining_since)
    assert running < 5.0, running
    assert await asyncio.wait_for(stopped, 15) == 0
    print(f"drain: out of HAProxy after {taken_out:.2f}s, ack {acked:.2f}s, App {running:.2f}s")
