"""The App record cache (server/app_records.py): TTL on a driven clock, invalidation, one
read for concurrent misses, and never caching what an invalidation made stale."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.records import AppRecord
from glasscloud.server.app_records import AppRecordCache
from tests.support.recorders import app_record


class FakeStore:
    """The records `get_app` would read, counting reads; `gate` (if set) holds reads."""

    def __init__(self, *records: AppRecord) -> None:
        self.records = {r.package_name: r for r in records}
        self.reads = 0
        self.gate: asyncio.Event | None = None
        self.fail: Exception | None = None

    async def get_app(self, package_name: str) -> AppRecord | None:
        self.reads += 1
        seen = self.records.get(package_name)  # what the database held when read
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return seen

    def rotate(self, package_name: str) -> None:
        old = self.records[package_name]
        self.records[package_name] = dataclasses.replace(old, key_version=old.key_version + 1)


async def reads_started(store: FakeStore, count: int) -> None:
    while store.reads < count:
        await asyncio.sleep(0)


def make(store: FakeStore, ttl: float = 2.0) -> tuple[AppRecordCache, ManualClock]:
    clock = ManualClock()
    return AppRecordCache(store.get_app, ttl=ttl, clock=clock.now), clock


async def test_a_record_is_read_once_then_served_until_the_ttl_is_over():
    store = FakeStore(app_record("com.a"))
    cache, clock = make(store)
    assert (await cache.get("com.a")).package_name == "com.a"
    clock.advance(1.99)
    await cache.get("com.a")
    assert store.reads == 1
    store.rotate("com.a")  # another process (the CLI) changes the database
    assert (await cache.get("com.a")).key_version == 1  # still within the TTL
    clock.advance(0.02)
    assert (await cache.get("com.a")).key_version == 2  # seen once the entry expired
    assert store.reads == 2


async def test_invalidate_drops_one_record_or_all():
    store = FakeStore(app_record("com.a"), app_record("com.b"))
    cache, _clock = make(store)
    await cache.get("com.a")
    await cache.get("com.b")
    store.rotate("com.a")
    cache.invalidate("com.a")
    assert (await cache.get("com.a")).key_version == 2  # at once, no TTL wait
    await cache.get("com.b")
    assert store.reads == 3  # com.b was kept
    cache.invalidate()
    await cache.get("com.a")
    await cache.get("com.b")
    assert store.reads == 5


async def test_an_absent_app_is_not_cached():
    store = FakeStore()
    cache, _clock = make(store)
    assert await cache.get("com.new") is None
    store.records["com.new"] = app_record("com.new")  # registered a moment later
    assert (await cache.get("com.new")).package_name == "com.new"


async def test_concurrent_misses_share_one_read():
    store = FakeStore(app_record("com.a"))
    store.gate = asyncio.Event()
    cache, _clock = make(store)
    waiting = [asyncio.ensure_future(cache.get("com.a")) for _ in range(50)]
    await reads_started(store, 1)
    store.gate.set()
    records = await asyncio.gather(*waiting)
    assert {r.package_name for r in records} == {"com.a"}
    assert store.reads == 1


async def test_a_read_in_flight_when_invalidated_is_not_cached_and_later_gets_read_again():
    """The developer API rotates the key while a read started before the write is still
    running: that read may return the old record to whoever asked before, but it must not
    be cached, and a `get` after the invalidation does not join it."""
    store = FakeStore(app_record("com.a"))
    store.gate = asyncio.Event()
    cache, _clock = make(store)
    early = asyncio.ensure_future(cache.get("com.a"))
    await reads_started(store, 1)
    store.rotate("com.a")
    cache.invalidate("com.a")
    late = asyncio.ensure_future(cache.get("com.a"))
    await reads_started(store, 2)
    store.gate.set()
    assert (await early).key_version == 1  # read before the write
    assert (await late).key_version == 2  # its own read, after
    assert (await cache.get("com.a")).key_version == 2
    assert store.reads == 2


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached():
    store = FakeStore(app_record("com.a"))
    store.gate = asyncio.Event()
    store.fail = RuntimeError("database gone")
    cache, _clock = make(store)
    waiting = [asyncio.ensure_future(cache.get("com.a")) for _ in range(3)]
    await reads_started(store, 1)
    store.gate.set()
    for future in waiting:
        with pytest.raises(RuntimeError):
            await future
    store.fail = None
    assert (await cache.get("com.a")).package_name == "com.a"


async def test_a_cancelled_caller_does_not_cancel_the_read_for_the_others():
    store = FakeStore(app_record("com.a"))
    store.gate = asyncio.Event()
    cache, _clock = make(store)
    first = asyncio.ensure_future(cache.get("com.a"))
    second = asyncio.ensure_future(cache.get("com.a"))
    await reads_started(store, 1)
    first.cancel()
    store.gate.set()
    assert (await second).package_name == "com.a"
    assert first.cancelled()


async def test_ttl_zero_caches_nothing():
    store = FakeStore(app_record("com.a"))
    cache, _clock = make(store, ttl=0.0)
    await cache.get("com.a")
    await cache.get("com.a")
    assert store.reads == 2
