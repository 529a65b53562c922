"""The lease scripts (cluster/leases.py) on a real Redis: one owner at a time, an epoch that
only grows, renewal that notices a lost lease and puts back one that Redis forgot, and a
release that can only let go of one's own lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from glasscloud.cluster.client import redis_client
from glasscloud.cluster.directory import NodeDirectory, NodeInfo
from glasscloud.cluster.leases import Leases
from tests.support.redis_server import RedisServer, needs_redis

pytestmark = needs_redis
USER = "lin@example.com"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    redis = redis_client(redis_server.url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def test_one_owner_at_a_time_and_the_epoch_only_grows(client):
    a, b = Leases(client, "node-a", 5), Leases(client, "node-b", 5)
    first = await a.claim(USER)
    assert first.owned and first.fresh and first.node == ""
    held = await b.claim(USER)
    assert not held.owned and held.node == "node-a" and held.epoch == first.epoch
    again = await a.claim(USER)  # ours already: renewed, same epoch
    assert again.owned and not again.fresh and again.epoch == first.epoch
    assert not await b.release(USER, first.epoch)  # b cannot let go of a's lease
    assert await a.release(USER, first.epoch)
    taken = await b.claim(USER)
    assert taken.owned and taken.fresh and taken.node == "node-a"  # who had it before
    assert taken.epoch > first.epoch
    assert await a.owner(USER) == ("node-b", taken.epoch)


async def test_concurrent_claims_have_exactly_one_winner(client):
    nodes = [Leases(client, f"node-{i}", 5) for i in range(8)]
    claims = await asyncio.gather(*(n.claim(USER) for n in nodes))
    assert sum(c.owned for c in claims) == 1


async def test_a_lease_not_renewed_expires_and_renewal_reports_it_lost(client):
    a, b = Leases(client, "node-a", 0.3), Leases(client, "node-b", 5)
    mine = await a.claim(USER)
    assert await a.renew({USER: mine.epoch}) == []
    await asyncio.sleep(0.45)  # a paused past its lease
    assert (await b.claim(USER)).owned
    assert await a.renew({USER: mine.epoch}) == [USER]  # a learns it lost the user
    assert (await a.owner(USER))[0] == "node-b"


async def test_after_redis_forgets_everything_leases_come_back_above_the_database(
    client, redis_server
):
    a = Leases(client, "node-a", 5)
    mine = await a.claim(USER, floor=41)  # the database already holds epoch 41
    assert mine.epoch == 42
    await redis_server.restart()  # no persistence: every key is gone
    assert await a.renew({USER: mine.epoch}) == []  # put back, same epoch
    assert await a.owner(USER) == ("node-a", 42)
    await a.release(USER, 42)
    later = await Leases(client, "node-b", 5).claim(USER)
    assert later.epoch > 42  # the counter was put back too


async def test_the_directory_lists_live_nodes_only(client):
    directory = NodeDirectory(client, 0.3)
    now = 1000.0
    await directory.announce(NodeInfo("node-a", "http://a", "http://a", now, now, 3), [{"x": 1}])
    await directory.announce(NodeInfo("node-b", "http://b", "http://b", now, now, 0), [])
    assert [n.node_id for n in await directory.nodes()] == ["node-a", "node-b"]
    assert (await directory.sessions(["node-a"]))["node-a"] == [{"x": 1}]
    await asyncio.sleep(0.45)
    await directory.announce(NodeInfo("node-b", "http://b", "http://b", now, now, 0), [])
    assert [n.node_id for n in await directory.nodes()] == ["node-b"]  # a stopped announcing
    await directory.leave("node-b")
    assert await directory.nodes() == []


async def test_a_draining_node_releases_only_its_own_leases_in_one_go(client):
    a, b = Leases(client, "node-a", 5), Leases(client, "node-b", 5)
    mine = {user: (await a.claim(user)).epoch for user in ("u1@x.org", "u2@x.org")}
    theirs = await b.claim("u3@x.org")
    await a.release_many({**mine, "u3@x.org": theirs.epoch})
    assert await a.owner("u1@x.org") is None and await a.owner("u2@x.org") is None
    assert await a.owner("u3@x.org") == ("node-b", theirs.epoch)


async def test_hundreds_of_concurrent_claims_queue_for_a_connection(redis_server):
    """More callers at once than the pool has connections (a reconnect storm) wait for one
    instead of failing."""
    redis = redis_client(redis_server.url, max_connections=8)
    try:
        leases = Leases(redis, "node-a", 5)
        claims = await asyncio.gather(*(leases.claim(f"u{i}@x.org") for i in range(300)))
        assert all(c.owned for c in claims)
        await leases.release_many({f"u{i}@x.org": c.epoch for i, c in enumerate(claims)})
        assert await leases.owner("u299@x.org") is None
    finally:
        await redis.aclose()
