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
from typing import Any

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from glasscloud.store.errors import StoreError
from glasscloud.store.urls import DatabaseUrl

BUSY_TIMEOUT_MS = 10_000

# Execution option marking a write transaction (BEGIN IMMEDIATE on SQLite).
WRITE = "glasscloud_write"


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
    conn.exec_driver_sql(f"BEGIN {mode}")
