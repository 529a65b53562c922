"""Cluster mode's fencing in the store (Store.take_user, writes with an epoch), on SQLite and
a real PostgreSQL (`store_url`): a node that lost a user's lease must never overwrite what the
new owner persisted, and the check must be one atomic step with the write."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from glasscloud.store import FencedWrite, Store, StoreError, UserRecord
from glasscloud.store.engine import WRITE, create_engine
from glasscloud.store.migrations import LATEST_VERSION, MIGRATIONS
from glasscloud.store.schema import schema_version, users
from glasscloud.store.urls import parse_database_url

USER = "alice@example.com"


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    async with await Store.open(store_url) as store:
        yield store


@pytest.fixture
async def two_nodes(store_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two Stores on one database, as two `glasscloud serve` nodes have."""
    async with await Store.open(store_url) as first, await Store.open(store_url) as second:
        yield first, second


@contextlib.asynccontextmanager
async def _transaction_beside(url: str) -> AsyncIterator:
    """An open write transaction on the database, beside the store (committed on exit): a
    sync connection for SQLite (BEGIN IMMEDIATE: it holds the write lock), an async one for
    PostgreSQL. Yields `execute(statement)` as a coroutine function."""
    engine = create_engine(parse_database_url(url)).execution_options(**{WRITE: True})
    if isinstance(engine, AsyncEngine):
        try:
            async with engine.begin() as conn:

                async def execute(statement):
                    return await conn.execute(statement)

                yield execute
        finally:
            await engine.dispose()
        return
    try:
        with engine.begin() as conn:

            async def execute(statement):
                return conn.execute(statement)

            yield execute
    finally:
        engine.dispose()


# -- take_user -------------------------------------------------------------------------------


async def test_a_user_never_taken_has_epoch_zero(store):
    assert (await store.get_user(USER)).owner_epoch == 0
    await store.set_running_apps(USER, ["com.a"])
    assert (await store.get_user(USER)).owner_epoch == 0


async def test_take_user_raises_the_epoch_and_returns_the_whole_record(store):
    await store.set_running_apps(USER, ["com.b", "com.a"])
    await store.set_user_settings(USER, {"brightness": 4})
    await store.set_resume_state(USER, {"com.a": {"view": "main"}})
    taken = await store.take_user(USER.upper(), 7)
    expected = UserRecord(
        user_id=USER,
        running_apps=("com.a", "com.b"),
        settings={"brightness": 4},
        resume_state={"com.a": {"view": "main"}},
        owner_epoch=7,
    )
    assert taken == expected
    assert await store.get_user(USER) == expected


async def test_take_user_of_a_user_never_stored_creates_it(store):
    assert await store.take_user("new@example.com", 1) == UserRecord(
        user_id="new@example.com", owner_epoch=1
    )
    assert (await store.get_user("new@example.com")).owner_epoch == 1


async def test_take_user_with_an_older_epoch_is_refused_and_keeps_the_newer(store):
    await store.take_user(USER, 5)
    with pytest.raises(FencedWrite) as refused:
        await store.take_user(USER, 4)
    assert refused.value.current_epoch == 5
    assert refused.value.epoch == 4
    assert USER in refused.value.message
    assert isinstance(refused.value, StoreError)
    assert (await store.get_user(USER)).owner_epoch == 5
    assert (await store.take_user(USER, 5)).owner_epoch == 5  # the same owner again: fine
    assert (await store.take_user(USER, 9)).owner_epoch == 9


async def test_take_user_refuses_an_epoch_that_is_not_a_non_negative_int(store):
    for bad in (-1, 1.5, "3", True, None):
        with pytest.raises(StoreError, match="epoch must be a non-negative integer"):
            await store.take_user(USER, bad)
    with pytest.raises(StoreError, match="epoch"):
        await store.set_running_apps(USER, ["com.a"], epoch=-2)
    assert await store.get_user(USER) == UserRecord(user_id=USER)


async def test_epochs_past_32_bits_are_kept(store):
    big = 2**40 + 3
    assert (await store.take_user(USER, big)).owner_epoch == big
    with pytest.raises(FencedWrite) as refused:
        await store.set_running_apps(USER, ["com.a"], epoch=big - 1)
    assert refused.value.current_epoch == big


# -- writes with an epoch --------------------------------------------------------------------


async def test_writes_of_an_older_owner_are_refused_and_change_nothing(store):
    await store.set_running_apps(USER, ["com.old"], epoch=1)
    await store.set_resume_state(USER, {"com.old": {"n": 1}}, epoch=1)
    await store.take_user(USER, 2)
    with pytest.raises(FencedWrite) as refused:
        await store.set_running_apps(USER, ["com.stale"], epoch=1)
    assert refused.value.current_epoch == 2
    assert USER in refused.value.message
    with pytest.raises(FencedWrite) as refused:
        await store.set_running_apps(USER, [], epoch=1)
    with pytest.raises(FencedWrite) as refused:
        await store.set_resume_state(USER, {"com.stale": {"n": 2}}, epoch=1)
    assert refused.value.current_epoch == 2
    assert await store.get_user(USER) == UserRecord(
        user_id=USER,
        running_apps=("com.old",),
        resume_state={"com.old": {"n": 1}},
        owner_epoch=2,
    )


async def test_writes_of_the_owner_or_a_newer_one_are_kept_and_do_not_raise_the_epoch(store):
    await store.take_user(USER, 3)
    await store.set_running_apps(USER, ["com.a"], epoch=3)
    await store.set_resume_state(USER, {"com.a": 1}, epoch=3)
    assert await store.get_user(USER) == UserRecord(
        user_id=USER, running_apps=("com.a",), resume_state={"com.a": 1}, owner_epoch=3
    )
    await store.set_running_apps(USER, ["com.b"], epoch=8)
    await store.set_resume_state(USER, {"com.b": 2}, epoch=8)
    assert await store.get_user(USER) == UserRecord(
        user_id=USER, running_apps=("com.b",), resume_state={"com.b": 2}, owner_epoch=3
    )
    # Only take_user moves the epoch: epoch 3's writes are still accepted.
    await store.set_running_apps(USER, ["com.c"], epoch=3)
    assert (await store.get_user(USER)).running_apps == ("com.c",)


async def test_writes_without_an_epoch_behave_as_in_single_node_mode(store):
    await store.take_user(USER, 4)
    await store.set_running_apps(USER, ["com.a"])
    await store.set_resume_state(USER, {"com.a": True})
    assert await store.get_user(USER) == UserRecord(
        user_id=USER, running_apps=("com.a",), resume_state={"com.a": True}, owner_epoch=4
    )


async def test_a_refused_write_is_refused_before_it_is_validated_or_after_it_changes_nothing(
    store,
):
    await store.take_user(USER, 2)
    with pytest.raises(StoreError):  # invalid input is refused whatever the epoch
        await store.set_running_apps(USER, ["bad name"], epoch=5)
    with pytest.raises(FencedWrite):
        await store.set_resume_state(USER, {"x": 1}, epoch=0)
    assert await store.get_user(USER) == UserRecord(user_id=USER, owner_epoch=2)


async def test_fencing_is_per_user(store):
    await store.take_user(USER, 9)
    await store.set_running_apps("bob@example.com", ["com.b"], epoch=1)
    assert (await store.get_user("bob@example.com")).running_apps == ("com.b",)
    assert (await store.get_user("bob@example.com")).owner_epoch == 0


async def test_a_takeover_by_another_node_fences_the_old_nodes_writes(two_nodes):
    old, new = two_nodes
    await old.take_user(USER, 1)
    await old.set_running_apps(USER, ["com.a", "com.b"], epoch=1)
    taken = await new.take_user(USER, 2)
    assert taken.running_apps == ("com.a", "com.b")
    await new.set_running_apps(USER, ["com.a"], epoch=2)
    with pytest.raises(FencedWrite):
        await old.set_running_apps(USER, ["com.a", "com.b", "com.z"], epoch=1)
    with pytest.raises(FencedWrite):
        await old.take_user(USER, 1)
    assert (await old.get_user(USER)).running_apps == ("com.a",)


# -- atomicity -------------------------------------------------------------------------------


@pytest.mark.parametrize("write", ["running_apps", "resume_state"])
async def test_a_takeover_committed_while_a_write_waits_fences_that_write(
    store, store_url, write
):
    """The check and the write are one step: a write that started while a takeover was in
    flight and checked the epoch before the takeover committed would overwrite the new
    owner. Here the takeover holds its lock (uncommitted) while the old owner's write
    starts; the write must wait, see the new epoch and change nothing."""
    await store.take_user(USER, 1)
    await store.set_running_apps(USER, ["com.kept"], epoch=1)
    await store.set_resume_state(USER, {"kept": 1}, epoch=1)
    stale_write = {
        "running_apps": lambda: store.set_running_apps(USER, ["com.stale"], epoch=1),
        "resume_state": lambda: store.set_resume_state(USER, {"stale": 1}, epoch=1),
    }[write]
    async with _transaction_beside(store_url) as execute:
        await execute(update(users).where(users.c.user_id == USER).values(owner_epoch=2))
        pending = asyncio.ensure_future(stale_write())
        await asyncio.sleep(0.5)
        assert not pending.done(), "the write did not wait for the takeover in flight"
    with pytest.raises(FencedWrite) as refused:
        await asyncio.wait_for(pending, 15)
    assert refused.value.current_epoch == 2
    assert await store.get_user(USER) == UserRecord(
        user_id=USER, running_apps=("com.kept",), resume_state={"kept": 1}, owner_epoch=2
    )


async def _take_for_session(store: Store, user_id: str, epoch: int) -> UserRecord:
    record, _settings = await store.take_user_for_session(user_id, epoch)
    return record


# Both ways of taking a user over: `take_user`, and the one a node opening a session uses
# (a conditional UPDATE ... RETURNING, falling back to take_user's check).
TAKES = pytest.mark.parametrize(
    "take",
    [lambda store, user, epoch: store.take_user(user, epoch), _take_for_session],
    ids=["take_user", "take_user_for_session"],
)


@TAKES
async def test_two_concurrent_takeovers_leave_the_higher_epoch(two_nodes, take):
    first, second = two_nodes
    for round_ in range(15):
        low, high = 2 * round_ + 1, 2 * round_ + 2
        nodes = [(first, low), (second, high)]
        random.shuffle(nodes)
        results = await asyncio.gather(
            *(take(node, USER, epoch) for node, epoch in nodes), return_exceptions=True
        )
        by_epoch = {epoch: result for (_, epoch), result in zip(nodes, results, strict=True)}
        assert isinstance(by_epoch[high], UserRecord), by_epoch[high]
        assert by_epoch[high].owner_epoch == high
        # The lower one either came first (and was taken over) or was refused.
        if isinstance(by_epoch[low], FencedWrite):
            assert by_epoch[low].current_epoch == high
        else:
            assert isinstance(by_epoch[low], UserRecord), by_epoch[low]
            assert by_epoch[low].owner_epoch == low
        assert (await first.get_user(USER)).owner_epoch == high


@TAKES
@pytest.mark.parametrize("stored_before", [True, False], ids=["stored", "never-stored"])
async def test_many_concurrent_takeovers_end_at_the_highest_epoch(two_nodes, take, stored_before):
    if stored_before:
        await two_nodes[0].set_running_apps(USER, ["com.kept"])
    epochs = list(range(1, 41))
    random.shuffle(epochs)
    results = await asyncio.gather(
        *(take(two_nodes[i % 2], USER, e) for i, e in enumerate(epochs)),
        return_exceptions=True,
    )
    for epoch, result in zip(epochs, results, strict=True):
        if isinstance(result, FencedWrite):
            assert result.current_epoch > epoch
        else:
            assert isinstance(result, UserRecord), result
            assert result.owner_epoch == epoch
    final = await two_nodes[0].get_user(USER)
    assert final.owner_epoch == 40
    assert final.running_apps == (("com.kept",) if stored_before else ())


async def test_an_old_owner_racing_a_takeover_never_overwrites_the_new_owner(two_nodes):
    """The old node keeps writing while the new one takes over: every write of the old one
    that succeeded is in what take_user returns (it committed before), every one after is
    refused, and the new owner's state is what stays."""
    old, new = two_nodes
    await old.take_user(USER, 1)
    last_ok: list[str] = []
    refusals: list[FencedWrite] = []
    some_written = asyncio.Event()

    async def old_owner() -> None:
        for i in range(10_000):
            package = f"com.old.v{i}"
            try:
                await old.set_running_apps(USER, [package], epoch=1)
            except FencedWrite as refused:
                refusals.append(refused)
                return
            last_ok.append(package)
            if i == 3:
                some_written.set()

    writer = asyncio.ensure_future(old_owner())
    await some_written.wait()
    taken = await new.take_user(USER, 2)
    await new.set_running_apps(USER, ["com.new"], epoch=2)
    await asyncio.wait_for(writer, 30)
    assert refusals and refusals[0].current_epoch == 2
    assert taken.running_apps == (last_ok[-1],)
    assert await new.get_user(USER) == UserRecord(
        user_id=USER, running_apps=("com.new",), owner_epoch=2
    )


# -- migration 5 -----------------------------------------------------------------------------


async def test_a_version_4_database_gains_owner_epoch_zero(store_url):
    async with _transaction_beside(store_url) as execute:
        await execute(
            text(
                "CREATE TABLE schema_version "
                "(version INTEGER NOT NULL PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
            )
        )
        for step in MIGRATIONS[:4]:
            for statement in step.statements:
                await execute(text(statement))
            await execute(
                insert(schema_version).values(
                    version=step.version, applied_at=text("CURRENT_TIMESTAMP")
                )
            )
        await execute(
            text(
                "INSERT INTO users (user_id, settings, created_at, resume_state) "
                "VALUES ('old@example.com', '{\"k\": 1}', CURRENT_TIMESTAMP, '{}')"
            )
        )
    async with await Store.open(store_url) as store:
        assert await store.schema_version() == LATEST_VERSION == 5
        assert await store.get_user("old@example.com") == UserRecord(
            user_id="old@example.com", settings={"k": 1}, owner_epoch=0
        )
        assert (await store.take_user("old@example.com", 1)).settings == {"k": 1}


async def test_take_user_for_session_fences_and_reads_the_app_settings_at_once(store):
    await store.create_app("com.example.a", "A", "http://127.0.0.1:9")
    await store.set_running_apps("amy@example.com", ["com.example.a"])
    await store.set_app_settings("amy@example.com", "com.example.a", {"size": 4})
    user, settings = await store.take_user_for_session("amy@example.com", 7)
    assert user.owner_epoch == 7 and user.running_apps == ("com.example.a",)
    assert settings == {"com.example.a": {"size": 4}}
    assert (await store.get_user("amy@example.com")).owner_epoch == 7
    with pytest.raises(FencedWrite) as refused:
        await store.take_user_for_session("amy@example.com", 6)
    assert refused.value.current_epoch == 7
    # refused: nothing changed, and the owner itself may take it again at its epoch
    again, _ = await store.take_user_for_session("amy@example.com", 7)
    assert again.owner_epoch == 7 and again.running_apps == ("com.example.a",)


async def test_take_user_for_session_of_a_user_never_stored_creates_it(store):
    user, settings = await store.take_user_for_session("new@example.com", 3)
    assert user == UserRecord(user_id="new@example.com", owner_epoch=3)
    assert settings == {}
    assert (await store.get_user("new@example.com")).owner_epoch == 3


async def test_a_stale_write_waiting_behind_take_user_for_session_is_fenced(store, store_url):
    """The conditional UPDATE takes the row's lock as FOR UPDATE does: the old owner's
    writes racing a takeover on another Store either commit before it (and are what it
    reads) or are refused; none lands after it."""
    await store.take_user(USER, 1)
    await store.set_running_apps(USER, ["com.kept"], epoch=1)
    other = await Store.open(store_url)
    try:
        results = await asyncio.gather(
            other.take_user_for_session(USER, 2),
            *(store.set_running_apps(USER, ["com.stale"], epoch=1) for _ in range(5)),
            return_exceptions=True,
        )
    finally:
        await other.close()
    assert isinstance(results[0], tuple), results[0]
    taken_apps = results[0][0].running_apps
    # every stale write that succeeded committed before the takeover (it is what it read)
    for result in results[1:]:
        assert result is None or isinstance(result, FencedWrite), result
    if any(r is None for r in results[1:]):
        assert taken_apps == ("com.stale",)
    with pytest.raises(FencedWrite):
        await store.set_running_apps(USER, ["com.stale"], epoch=1)
    assert (await store.get_user(USER)).running_apps == taken_apps
