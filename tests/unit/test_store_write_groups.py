"""SQLite: a storm's writes run in groups, each in a savepoint (store/write_groups.py)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import text

from glasscloud.store import Store, StoreError
from glasscloud.store.errors import FencedWrite
from glasscloud.store.store import _now
from glasscloud.store.user_writes import ensure_user


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


async def _rows(store: Store, sql: str) -> list[tuple]:
    return await store._run(lambda conn: [tuple(r) for r in conn.execute(text(sql))])


async def test_writes_asked_for_together_commit_together_and_all_land(store):
    groups_before = store._groups.groups
    await asyncio.gather(
        *(store.set_resume_state(f"u{i}@example.com", {"com.a": {"n": i}}) for i in range(100)),
        *(store.set_running_apps(f"u{i}@example.com", ["com.a", "com.b"]) for i in range(100)),
        *(store.take_user_for_session(f"t{i}@example.com", 2) for i in range(50)),
    )
    groups = store._groups.groups - groups_before
    assert 1 <= groups < 50  # 250 writes, a few transactions
    for i in (0, 57, 99):
        user = await store.get_user(f"u{i}@example.com")
        assert user.resume_state == {"com.a": {"n": i}}
        assert user.running_apps == ("com.a", "com.b")
    assert (await store.get_user("t7@example.com")).owner_epoch == 2


async def test_a_fenced_write_in_a_group_fails_alone_and_changes_nothing(store):
    await store.set_resume_state("old@example.com", {"kept": True})
    await store.take_user("old@example.com", 5)
    results = await asyncio.gather(
        store.set_resume_state("a@example.com", {"a": 1}, epoch=1),
        store.set_resume_state("old@example.com", {"stale": True}, epoch=3),
        store.set_running_apps("old@example.com", ["com.stale"], epoch=4),
        store.set_running_apps("b@example.com", ["com.b"], epoch=1),
        return_exceptions=True,
    )
    assert results[0] is None and results[3] is None
    assert isinstance(results[1], FencedWrite) and isinstance(results[2], FencedWrite)
    old = await store.get_user("old@example.com")
    assert old.resume_state == {"kept": True} and old.running_apps == ()
    assert (await store.get_user("a@example.com")).resume_state == {"a": 1}
    assert (await store.get_user("b@example.com")).running_apps == ("com.b",)


async def test_a_failing_write_is_rolled_back_to_its_savepoint(store):
    def half_then_fail(conn):
        ensure_user(conn, "half@example.com", _now())
        raise ValueError("failed after writing")

    results = await asyncio.gather(
        store._run(half_then_fail, write=True, grouped=True),
        store.set_resume_state("whole@example.com", {"x": 1}),
        return_exceptions=True,
    )
    assert isinstance(results[0], ValueError) and results[1] is None
    assert await _rows(store, "SELECT user_id FROM users ORDER BY user_id") == [
        ("whole@example.com",)
    ]


async def test_a_group_whose_transaction_fails_answers_every_write_and_the_next_works(
    sqlite_url, monkeypatch
):
    from glasscloud.store import engine as engine_module

    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 50)
    async with await Store.open(sqlite_url) as store:
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            results = await asyncio.gather(
                *(store.set_resume_state(f"u{i}@example.com", {"i": i}) for i in range(5)),
                return_exceptions=True,
            )
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert all(isinstance(r, StoreError) and "locked" in str(r) for r in results)
        await store.set_resume_state("u1@example.com", {"i": 1})
        assert (await store.get_user("u1@example.com")).resume_state == {"i": 1}


async def test_a_write_whose_caller_stopped_waiting_still_lands(store):
    write = asyncio.ensure_future(store.set_resume_state("late@example.com", {"x": 1}))
    await asyncio.sleep(0)
    write.cancel()
    await asyncio.sleep(0.2)
    assert (await store.get_user("late@example.com")).resume_state == {"x": 1}
