"""The Store against a real SQLite file in a temporary directory and a real PostgreSQL
database (tests/support/postgres.py): every test taking `url` or `store` runs on both; the
ones about SQLite's own file, locking and worker thread take `sqlite_url`."""

from __future__ import annotations

import asyncio
import importlib.util
import threading

import pytest
from sqlalchemy import event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from glasscloud.auth.apikeys import hash_api_key, verify_api_key
from glasscloud.store import AppExists, AppNotFound, AppRecord, Store, StoreError, UserRecord
from glasscloud.store.engine import create_engine
from glasscloud.store.migrations import LATEST_VERSION
from glasscloud.store.schema import metadata
from glasscloud.store.urls import parse_database_url
from tests.support.postgres import PASSWORD, free_port

SCHEMA = ({"key": "language", "type": "select", "defaultValue": "en"},)


@pytest.fixture
def url(store_url: str) -> str:
    return store_url


@pytest.fixture
async def store(url: str):
    store = await Store.open(url)
    yield store
    await store.close()


async def _beside(url: str, fn, write: bool = False):
    """`fn(connection)` on the database through an engine made the way the store makes its
    own (store.engine.create_engine), beside the store: no store internals."""
    engine = create_engine(parse_database_url(url))
    if isinstance(engine, AsyncEngine):
        try:
            async with engine.begin() if write else engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()
    try:
        with engine.begin() if write else engine.connect() as conn:
            return fn(conn)
    finally:
        engine.dispose()


async def _scalar(url: str, sql: str):
    return await _beside(url, lambda conn: conn.exec_driver_sql(sql).scalar())


# -- opening, schema, migrations -------------------------------------------------------------


async def test_open_creates_the_file_in_wal_mode_with_a_busy_timeout(sqlite_url, tmp_path):
    async with await Store.open(sqlite_url):
        assert (tmp_path / "glass.db").is_file()
        assert await _scalar(sqlite_url, "PRAGMA journal_mode") == "wal"
        assert await _scalar(sqlite_url, "PRAGMA busy_timeout") >= 1000


async def test_schema_matches_the_table_definitions(store, url):
    actual = await _beside(
        url,
        lambda sync: {
            table: {c["name"] for c in inspect(sync).get_columns(table)}
            for table in inspect(sync).get_table_names()
        },
    )
    expected = {t.name: {c.name for c in t.columns} for t in metadata.sorted_tables}
    assert actual == expected


async def test_migrations_run_once(url):
    for _ in range(3):
        async with await Store.open(url):
            assert await _scalar(url, "SELECT COUNT(*) FROM schema_version") == LATEST_VERSION
            assert await _scalar(url, "SELECT MAX(version) FROM schema_version") == LATEST_VERSION


async def test_a_database_from_a_newer_glasscloud_is_refused(url):
    async with await Store.open(url):
        await _beside(
            url,
            lambda conn: conn.exec_driver_sql(
                f"INSERT INTO schema_version VALUES ({LATEST_VERSION + 1}, '2030-01-01 00:00:00')"
            ),
            write=True,
        )
    with pytest.raises(StoreError, match="upgrade glasscloud"):
        await Store.open(url)


async def test_missing_directory_is_an_error_not_created(tmp_path):
    missing = tmp_path / "nope" / "deeper"
    with pytest.raises(StoreError) as info:
        await Store.open(f"sqlite:///{missing}/glass.db")
    assert str(missing) in info.value.message
    assert "does not exist" in info.value.message
    assert not missing.exists()


async def test_a_directory_as_database_path_is_an_error(tmp_path):
    with pytest.raises(StoreError, match="is a directory"):
        await Store.open(f"sqlite:///{tmp_path}")


async def test_a_file_that_is_not_a_database_is_an_error(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError) as info:
        await Store.open(f"sqlite:///{path}")
    assert info.value.message.startswith("cannot open the database")
    assert "\n" not in info.value.message


async def test_unsupported_url_is_an_error():
    with pytest.raises(StoreError, match="unsupported database URL 'mysql://x/y'"):
        await Store.open("mysql://x/y")


async def test_postgres_without_asyncpg_names_the_missing_driver(monkeypatch):
    # the suite installs asyncpg; a self-hoster's machine without it is what this checks
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "asyncpg" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(StoreError, match="PostgreSQL needs the asyncpg driver"):
        await Store.open("postgresql://glass@127.0.0.1/glass")


async def test_in_memory_database_works():
    async with await Store.open("sqlite://") as store:
        await store.create_app("com.example.mem", "Mem", "http://127.0.0.1:9")
        assert [a.package_name for a in await store.list_apps()] == ["com.example.mem"]


@pytest.fixture
async def traced_store(sqlite_url: str):
    """A SQLite Store and every statement SQLite itself ran for it (its trace callback, on
    every connection opened), with the thread that ran it: statements SQLAlchemy runs and
    those run on the driver's cursor (BEGIN, store/precompiled.py) alike."""
    ran: list[tuple[str, threading.Thread]] = []

    def trace(dbapi_connection, _record):
        dbapi_connection.set_trace_callback(
            lambda sql: ran.append((sql, threading.current_thread()))
        )

    event.listen(Engine, "connect", trace)
    try:
        store = await Store.open(sqlite_url)
        ran.clear()  # the migration
        yield store, ran
        await store.close()
    finally:
        event.remove(Engine, "connect", trace)


def _begins(ran: list[tuple[str, threading.Thread]]) -> list[str]:
    return [sql for sql, _ in ran if sql.startswith("BEGIN")]


async def test_writes_take_the_write_lock_first_and_reads_do_not(traced_store):
    store, ran = traced_store
    await store.set_user_settings("a@example.com", {"x": 1})
    await store.get_user("a@example.com")
    await store.take_user_for_session("a@example.com", 3)
    await store.open_user("a@example.com")
    assert _begins(ran) == ["BEGIN IMMEDIATE", "BEGIN DEFERRED"] * 2
    assert sum(sql == "COMMIT" for sql, _ in ran) == 4


async def test_each_operation_is_one_call_on_one_worker_thread_off_the_loop(traced_store):
    store, ran = traced_store
    loop_thread = threading.current_thread()
    await store.create_app("com.example.one", "One", "http://127.0.0.1:1")
    await store.get_app("com.example.one")
    await store.get_user("a@example.com")
    await store.get_app_settings("a@example.com", "com.example.one")
    await store.set_running_apps("a@example.com", ["com.a", "com.b", "com.c"])
    await store.set_app_settings("a@example.com", "com.a", {"k": 1})
    await store.take_user_for_session("a@example.com", 1)
    await asyncio.gather(*(store.get_user(f"u{i}@example.com") for i in range(20)))
    assert len(_begins(ran)) == 7 + 20  # one transaction per operation
    threads = {thread for _, thread in ran}
    assert len(threads) == 1
    (thread,) = threads
    assert thread is not loop_thread
    assert thread.name.startswith("glasscloud-store")


async def test_the_worker_keeps_its_connections_open_between_transactions(traced_store):
    from sqlalchemy.pool import Pool

    store, _ran = traced_store
    await store.get_user("first@example.com")  # a connection each is taken on first use
    await store.set_user_settings("first@example.com", {})
    taken: list[object] = []

    def record(dbapi_connection, _record, _proxy):
        taken.append(dbapi_connection)

    event.listen(Pool, "checkout", record)
    try:
        for i in range(5):
            await store.set_user_settings(f"u{i}@example.com", {"i": i})
            await store.get_user(f"u{i}@example.com")
    finally:
        event.remove(Pool, "checkout", record)
    assert taken == []  # no pool checkout (and reset on return) per transaction


async def test_a_begin_that_times_out_on_a_lock_is_a_store_error_and_the_next_one_works(
    sqlite_url, monkeypatch
):
    import sqlite3

    from glasscloud.store import engine as engine_module

    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_MS", 50)
    async with await Store.open(sqlite_url) as store:
        await store.set_user_settings("a@example.com", {"x": 1})
        path = sqlite_url.removeprefix("sqlite:///")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(StoreError, match="locked"):
                await store.set_user_settings("a@example.com", {"x": 2})
            with pytest.raises(StoreError, match="locked"):
                await store.take_user_for_session("a@example.com", 1)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await store.set_user_settings("a@example.com", {"x": 3})
        user, _ = await store.take_user_for_session("a@example.com", 2)
        assert user.settings == {"x": 3}
        assert (await store.get_user("a@example.com")).owner_epoch == 2


async def test_operations_after_close_are_refused_and_close_is_idempotent(url):
    store = await Store.open(url)
    await store.close()
    await store.close()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.get_app("com.example.x")


async def test_close_waits_for_operations_already_running(url):
    store = await Store.open(url)
    writes = [
        asyncio.ensure_future(store.set_app_settings("a@example.com", "com.a", {f"k{i}": i}))
        for i in range(50)
    ]
    await asyncio.sleep(0)  # all submitted to the worker
    await store.close()
    await asyncio.gather(*writes)
    async with await Store.open(url) as reopened:
        assert len(await reopened.get_app_settings("a@example.com", "com.a")) == 50


# -- the secret ------------------------------------------------------------------------------


async def test_secret_is_created_once_and_survives_a_restart(url):
    async with await Store.open(url) as store:
        secret = await store.get_or_create_secret()
        assert len(secret) >= 43
        assert await store.get_or_create_secret() == secret
    async with await Store.open(url) as store:
        assert await store.get_or_create_secret() == secret


async def test_concurrent_openers_agree_on_one_secret(url):
    stores = await asyncio.gather(*(Store.open(url) for _ in range(5)))
    try:
        secrets = await asyncio.gather(*(s.get_or_create_secret() for s in stores))
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    assert len(set(secrets)) == 1


# -- apps ------------------------------------------------------------------------------------


async def test_create_app_returns_the_record_and_a_key_only_its_hash_is_stored(store):
    record, key = await store.create_app(
        "com.example.notes",
        "Notes",
        "https://notes.example.com/",
        app_type="standard",
        permissions=["microphone", "Location", "MICROPHONE"],
        settings_schema=SCHEMA,
    )
    assert record == AppRecord(
        package_name="com.example.notes",
        name="Notes",
        public_url="https://notes.example.com",
        app_type="standard",
        is_system=False,
        permissions=("MICROPHONE", "LOCATION"),
        settings_schema=SCHEMA,
        api_key_hash=hash_api_key(key),
        key_version=1,
    )
    assert len(key) == 64
    assert await store.get_app("com.example.notes") == record
    assert verify_api_key(key, record.api_key_hash)
    assert key not in repr(await store.list_apps())


async def test_create_app_defaults(store):
    record, _ = await store.create_app("com.example.bg", "Bg", "http://127.0.0.1:8100")
    assert record.app_type == "background"
    assert record.is_system is False
    assert record.permissions == ()
    assert record.settings_schema == ()


async def test_system_app_flag_is_stored(store):
    await store.create_app("system.dashboard", "Dash", "http://127.0.0.1:8101", is_system=True)
    assert (await store.get_app("system.dashboard")).is_system is True


async def test_duplicate_package_raises_app_exists(store):
    await store.create_app("com.example.dup", "One", "http://127.0.0.1:1")
    with pytest.raises(AppExists) as info:
        await store.create_app("com.example.dup", "Two", "http://127.0.0.1:2")
    assert info.value.package_name == "com.example.dup"
    assert "com.example.dup" in info.value.message
    assert (await store.get_app("com.example.dup")).name == "One"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"package_name": ""}, "package_name"),
        ({"package_name": "   "}, "package_name"),
        ({"package_name": ".hidden"}, "package_name"),
        ({"package_name": "com example"}, "package_name"),
        ({"package_name": "com/example"}, "package_name"),
        ({"name": ""}, "name"),
        ({"public_url": "ftp://x.example"}, "public_url"),
        ({"public_url": "notes.example.com"}, "public_url"),
        ({"public_url": "https://"}, "public_url"),
        ({"app_type": "foreground"}, "app_type"),
        ({"permissions": ["MICROPHONE", "TELEPATHY"]}, "permission"),
        ({"permissions": "MICROPHONE"}, "permissions"),
        ({"settings_schema": ["not an object"]}, "settings"),
        ({"settings_schema": [{"bad": {1, 2}}]}, "settings"),
        ({"settings_schema": [{"type": "toggle"}]}, "settings[0].key"),
        ({"settings_schema": [{"type": "slider", "key": "k", "min": 5}]}, "settings[0]"),
        ({"tools": [{"description": "no id"}]}, "tools[0].id"),
        ({"tools": [{"id": "a"}, {"id": "a"}]}, "tools[1].id"),
        ({"tools": [{"id": "a", "parameters": {"p": {"type": "date"}}}]}, "tools[0].parameters.p"),
        ({"tools": [{"id": str(i)} for i in range(65)]}, "tools"),
        ({"webview_url": "javascript:alert(1)"}, "webviewURL"),
    ],
)
async def test_create_app_validation(store, changes, field):
    arguments = {"package_name": "com.example.ok", "name": "Ok", "public_url": "http://a.b"}
    arguments.update(changes)
    with pytest.raises(StoreError) as info:
        await store.create_app(**arguments)
    assert not isinstance(info.value, AppExists)
    assert info.value.message.startswith(field)
    assert await store.list_apps() == []


async def test_package_names_with_dots_dashes_underscores_and_digits_are_fine(store):
    for name in ("a", "0app", "com.Example-app_2", "x.y.z"):
        await store.create_app(name, "N", "http://127.0.0.1:1")


async def test_get_app_absent_is_none(store):
    assert await store.get_app("com.example.absent") is None


async def test_list_apps_is_sorted_by_package_name(store):
    for package in ("org.zeta", "com.beta", "com.alpha"):
        await store.create_app(package, package.upper(), "http://127.0.0.1:1")
    assert [a.package_name for a in await store.list_apps()] == [
        "com.alpha",
        "com.beta",
        "org.zeta",
    ]


async def test_rotate_api_key_invalidates_the_old_key_at_once(store):
    _, old_key = await store.create_app("com.example.rot", "Rot", "http://127.0.0.1:1")
    new_key = await store.rotate_api_key("com.example.rot")
    app = await store.get_app("com.example.rot")
    assert new_key != old_key
    assert app.key_version == 2
    assert verify_api_key(new_key, app.api_key_hash)
    assert not verify_api_key(old_key, app.api_key_hash)
    await store.rotate_api_key("com.example.rot")
    assert (await store.get_app("com.example.rot")).key_version == 3


async def test_rotate_api_key_of_unknown_app(store):
    with pytest.raises(AppNotFound) as info:
        await store.rotate_api_key("com.example.ghost")
    assert info.value.package_name == "com.example.ghost"
    assert "com.example.ghost" in info.value.message


# -- users -----------------------------------------------------------------------------------


async def test_unknown_user_gets_a_default_record(store):
    assert await store.get_user("Nobody@Example.com") == UserRecord(
        user_id="nobody@example.com", running_apps=(), settings={}
    )


async def test_set_running_apps_marks_exactly_those(store):
    await store.set_running_apps("a@example.com", ["com.b", "com.a", "com.c", "com.a"])
    assert (await store.get_user("a@example.com")).running_apps == ("com.a", "com.b", "com.c")
    await store.set_running_apps("a@example.com", ["com.c", "com.d"])
    assert (await store.get_user("a@example.com")).running_apps == ("com.c", "com.d")
    await store.set_running_apps("a@example.com", [])
    assert (await store.get_user("a@example.com")).running_apps == ()


async def test_user_ids_are_lower_cased_emails(store):
    await store.set_running_apps("  Mixed@Example.COM ", ["com.a"])
    assert (await store.get_user("mixed@example.com")).running_apps == ("com.a",)
    assert (await store.get_user("MIXED@example.com")).user_id == "mixed@example.com"


async def test_running_apps_are_per_user(store):
    await store.set_running_apps("a@example.com", ["com.a"])
    await store.set_running_apps("b@example.com", ["com.b"])
    assert (await store.get_user("a@example.com")).running_apps == ("com.a",)
    assert (await store.get_user("b@example.com")).running_apps == ("com.b",)


async def test_set_running_apps_keeps_user_and_app_settings(store):
    await store.set_user_settings("a@example.com", {"brightness": 7})
    await store.set_app_settings("a@example.com", "com.a", {"language": "fr"})
    await store.set_running_apps("a@example.com", ["com.a"])
    await store.set_running_apps("a@example.com", [])
    user = await store.get_user("a@example.com")
    assert user.settings == {"brightness": 7}
    assert await store.get_app_settings("a@example.com", "com.a") == {"language": "fr"}


async def test_set_running_apps_validation(store):
    with pytest.raises(StoreError, match="user_id"):
        await store.set_running_apps("", ["com.a"])
    with pytest.raises(StoreError, match="running app"):
        await store.set_running_apps("a@example.com", ["com.a", "bad name"])
    with pytest.raises(StoreError, match="packages"):
        await store.set_running_apps("a@example.com", "com.a")
    assert (await store.get_user("a@example.com")).running_apps == ()


async def test_set_user_settings_replaces_the_object(store):
    await store.set_user_settings("a@example.com", {"brightness": 7, "metric": True})
    await store.set_user_settings("a@example.com", {"brightness": 3})
    assert (await store.get_user("a@example.com")).settings == {"brightness": 3}


async def test_set_user_settings_keeps_running_apps(store):
    await store.set_running_apps("a@example.com", ["com.a"])
    await store.set_user_settings("a@example.com", {"x": 1})
    assert (await store.get_user("a@example.com")).running_apps == ("com.a",)


async def test_set_user_settings_validation(store):
    with pytest.raises(StoreError, match="settings must be a JSON object"):
        await store.set_user_settings("a@example.com", ["not", "a", "dict"])
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        await store.set_user_settings("a@example.com", {"x": object()})
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        await store.set_user_settings("a@example.com", {"x": float("nan")})


# -- per-user App settings ------------------------------------------------------------------


async def test_app_settings_default_to_empty(store):
    assert await store.get_app_settings("a@example.com", "com.a") == {}


async def test_app_settings_merge(store):
    await store.set_app_settings("a@example.com", "com.a", {"language": "en", "size": 2})
    await store.set_app_settings("A@example.com", "com.a", {"language": "fr", "dark": True})
    assert await store.get_app_settings("a@example.com", "com.a") == {
        "language": "fr",
        "size": 2,
        "dark": True,
    }


async def test_app_settings_are_per_user_and_per_app(store):
    await store.set_app_settings("a@example.com", "com.a", {"k": 1})
    await store.set_app_settings("a@example.com", "com.b", {"k": 2})
    await store.set_app_settings("b@example.com", "com.a", {"k": 3})
    assert await store.get_app_settings("a@example.com", "com.a") == {"k": 1}
    assert await store.get_app_settings("a@example.com", "com.b") == {"k": 2}
    assert await store.get_app_settings("b@example.com", "com.a") == {"k": 3}


async def test_app_settings_do_not_start_the_app(store):
    await store.set_app_settings("a@example.com", "com.a", {"k": 1})
    assert (await store.get_user("a@example.com")).running_apps == ()


async def test_app_settings_keep_values_of_any_json_type(store):
    values = {"n": None, "f": 1.5, "l": [1, "two"], "o": {"nested": [True]}, "s": "é"}
    await store.set_app_settings("a@example.com", "com.a", values)
    assert await store.get_app_settings("a@example.com", "com.a") == values


async def test_set_app_settings_validation(store):
    with pytest.raises(StoreError, match="app settings must be a JSON object"):
        await store.set_app_settings("a@example.com", "com.a", "x")
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        await store.set_app_settings("a@example.com", "com.a", {"x": b"bytes"})
    with pytest.raises(StoreError, match="package_name"):
        await store.set_app_settings("a@example.com", "", {"x": 1})
    assert await store.get_app_settings("a@example.com", "com.a") == {}


async def test_concurrent_merges_from_two_processes_lose_nothing(url):
    first, second = await Store.open(url), await Store.open(url)
    try:
        writes = [
            (first if i % 2 else second).set_app_settings("a@example.com", "com.a", {f"k{i}": i})
            for i in range(20)
        ]
        await asyncio.gather(*writes)
        assert await first.get_app_settings("a@example.com", "com.a") == {
            f"k{i}": i for i in range(20)
        }
    finally:
        await first.close()
        await second.close()


async def test_many_concurrent_merges_and_reads_in_one_process_are_atomic(store):
    await store.set_app_settings("a@example.com", "com.a", {"base": 0})

    async def merge(i: int) -> None:
        await store.set_app_settings("a@example.com", "com.a", {f"k{i}": i})

    async def read() -> dict:
        return await store.get_app_settings("a@example.com", "com.a")

    results = await asyncio.gather(*(merge(i) if i % 4 else read() for i in range(400)))
    expected = {"base": 0} | {f"k{i}": i for i in range(400) if i % 4}
    assert await read() == expected
    # Every read saw a committed state: the base key plus some subset of the merges.
    for seen in filter(None, results):
        assert seen.items() <= expected.items()
        assert "base" in seen


# -- restart ---------------------------------------------------------------------------------


async def test_a_restart_keeps_everything(url):
    async with await Store.open(url) as store:
        secret = await store.get_or_create_secret()
        record, _ = await store.create_app(
            "com.example.keep", "Keep", "https://keep.example", permissions=["CAMERA"]
        )
        key = await store.rotate_api_key("com.example.keep")
        await store.set_running_apps("a@example.com", ["com.example.keep", "com.other"])
        await store.set_user_settings("a@example.com", {"theme": "dark"})
        await store.set_app_settings("a@example.com", "com.example.keep", {"lang": "de"})

    async with await Store.open(url) as store:
        assert await store.get_or_create_secret() == secret
        app = await store.get_app("com.example.keep")
        assert app.permissions == ("CAMERA",)
        assert app.key_version == 2
        assert verify_api_key(key, app.api_key_hash)
        assert await store.get_user("a@example.com") == UserRecord(
            user_id="a@example.com",
            running_apps=("com.example.keep", "com.other"),
            settings={"theme": "dark"},
        )
        assert await store.get_app_settings("a@example.com", "com.example.keep") == {"lang": "de"}
    assert record.package_name == app.package_name


async def test_url_names_the_driver_sqlite_actually_uses(tmp_path):
    store = await Store.open(f"sqlite+aiosqlite:///{tmp_path}/u.db")
    try:
        assert store.url == f"sqlite:///{tmp_path}/u.db"
    finally:
        await store.close()


# -- PostgreSQL only -------------------------------------------------------------------------


async def test_postgres_url_names_the_driver_and_hides_the_password(postgres_url):
    async with await Store.open(postgres_url) as store:
        assert store.url.startswith("postgresql+asyncpg://glasscloud:***@127.0.0.1:")
        assert PASSWORD not in store.url


async def test_an_unreachable_postgres_server_is_a_store_error(postgres_server):
    closed_port = free_port()
    url = f"postgresql://glasscloud:{PASSWORD}@127.0.0.1:{closed_port}/glass"
    with pytest.raises(StoreError) as info:
        await Store.open(url)
    assert info.value.message.startswith("cannot open the database postgresql+asyncpg://")
    assert "Connect call failed" in info.value.message
    assert PASSWORD not in info.value.message
    assert "\n" not in info.value.message


async def test_a_wrong_postgres_password_is_a_store_error(postgres_server):
    url = postgres_server.url().replace(PASSWORD, "wrong")
    with pytest.raises(StoreError, match="password authentication failed"):
        await Store.open(url)
