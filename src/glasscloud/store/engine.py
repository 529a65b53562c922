"""Engine creation: SQLite (sync pysqlite, one worker thread) tuned for several processes,
or PostgreSQL (asyncpg).

Why SQLite is not async here: through aiosqlite every statement (BEGIN, execute, fetch,
cursor close, COMMIT) is a round trip to aiosqlite's thread plus an event-loop wake-up, 5-8
per transaction, which cost 1.4-2.8 ms of CPU per Store operation. The Store instead runs
each whole transaction as one plain function on one dedicated worker thread: one thread hop
per operation instead of one per statement. PostgreSQL keeps the async engine (asyncpg) and
runs the same function through `run_sync`.

SQLite runs in WAL mode (readers never block the writer) with a busy timeout (a writer waits
for another instead of failing at once). SQLAlchemy's pysqlite default issues no BEGIN until
the first write, which lets two read-then-write transactions deadlock and fail without waiting;
so the driver's own transaction handling is turned off and BEGIN is emitted here: BEGIN
IMMEDIATE (take the write lock first) on connections carrying the WRITE option, BEGIN
DEFERRED otherwise. This is SQLAlchemy's documented recipe for pysqlite.
"""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from glasscloud.store.errors import StoreError
from glasscloud.store.urls import DatabaseUrl

BUSY_TIMEOUT_MS = 10_000

# Execution option marking a write transaction (BEGIN IMMEDIATE on SQLite).
WRITE = "glasscloud_write"

T = TypeVar("T")

_BEGIN = {mode: f"BEGIN {mode}" for mode in ("IMMEDIATE", "DEFERRED")}


def create_engine(db: DatabaseUrl) -> Engine | AsyncEngine:
    """The engine for `db`: a sync Engine for SQLite (to be used from one thread only), an
    AsyncEngine for PostgreSQL. Raises StoreError for a missing directory or driver."""
    if db.dialect == "sqlite":
        return _sqlite_engine(db)
    if importlib.util.find_spec("asyncpg") is None:
        raise StoreError(
            "PostgreSQL needs the asyncpg driver: "
            "install it with pip install 'glasscloud[postgres]'"
        )
    try:
        return create_async_engine(db.driver_url, pool_pre_ping=True)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"the database URL is invalid: {exc}") from None


def _sqlite_engine(db: DatabaseUrl) -> Engine:
    kwargs: dict[str, Any] = {}
    if db.sqlite_path is None:
        # One shared connection, or every connection would see its own empty database. Only
        # the Store's single worker thread uses it.
        kwargs["poolclass"] = StaticPool
        kwargs["connect_args"] = {"check_same_thread": False}
    else:
        directory = db.sqlite_path.parent
        if not directory.is_dir():
            raise StoreError(
                f"the database directory '{directory}' does not exist: create it first "
                "or choose another database path"
            )
        if db.sqlite_path.is_dir():
            raise StoreError(f"the database path '{db.sqlite_path}' is a directory, not a file")
    engine = create_sync_engine(db.driver_url, **kwargs)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # BEGIN is emitted by _on_sqlite_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # With WAL, NORMAL commits survive a crash of glasscloud itself and skip an fsync per
        # write; only an OS crash can lose the last commits (which Apps run, re-persisted on
        # the next change). Measured: see docs/decisions.md.
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE) else "DEFERRED"
    # On the driver's connection: through `exec_driver_sql` this BEGIN cost as much CPU as
    # the rest of a small transaction. SQLAlchemy does not wrap an error raised here.
    driver = conn.connection.driver_connection
    try:
        driver.execute(_BEGIN[mode])  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise DBAPIError.instance(_BEGIN[mode], (), exc, sqlite3.Error) from exc


class HeldConnections:
    """SQLite: the Store's worker thread keeps one connection open per engine (its reads,
    its writes) instead of taking one from the pool for every transaction and handing it
    back (pool checkout, reset on return): 65 -> 26 µs of CPU per transaction. Used by that
    one thread only; a connection SQLAlchemy invalidated (a driver error it took for a
    broken connection) is replaced on the next transaction."""

    def __init__(self) -> None:
        self._held: dict[Engine, Connection] = {}

    def transaction(self, engine: Engine, fn: Callable[[Connection], T]) -> T:
        """`fn(conn)` in one transaction on `engine`'s held connection: begin, `fn`, commit
        (or roll back if it raises)."""
        conn = self._held.get(engine)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._held[engine] = engine.connect()
        try:
            transaction = conn.begin()
        except BaseException:
            # BEGIN failed (the database stayed locked past the busy timeout): the next
            # transaction starts on a fresh connection.
            del self._held[engine]
            conn.close()
            raise
        with transaction:
            return fn(conn)

    def close(self) -> None:
        for conn in self._held.values():
            conn.close()
        self._held.clear()
