"""SQLite: the writes a storm makes per user run in groups, one transaction per group.

SQLite has one writer at a time (BEGIN IMMEDIATE), and each write transaction costs a hop to
the Store's worker thread, BEGIN, COMMIT and the WAL frames of every page it touched. A storm
writes the same few pages for every user (the users table, its index, the user's Apps), so
writes asked for while the worker is busy are run together when it is free: one transaction,
each write in a savepoint of its own, so one write that fails (FencedWrite: a newer owner
took the user over; a constraint) is rolled back alone and answered with its error while the
others commit. A group holds at most MAX_GROUP writes; a failure of the transaction itself
(BEGIN, COMMIT: the database stayed locked, the disk is full) is every write's answer.
Measured: docs/decisions.md, "Writes of a storm commit in groups".

PostgreSQL keeps one transaction per write: its writers run concurrently, and locking many
users' rows in one transaction would only add waits between nodes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.engine import Connection, Engine

from glasscloud.store.engine import HeldConnections

MAX_GROUP = 256

_Write = Callable[[Connection], Any]
_Outcome = tuple[bool, Any]  # (True, value) or (False, exception)


class WriteGroups:
    """Group writes for `engine` (the Store's write engine) on `executor` (its one worker
    thread), using the worker's held connections."""

    def __init__(self, executor: ThreadPoolExecutor, held: HeldConnections, engine: Engine) -> None:
        self._executor = executor
        self._held = held
        self._engine = engine
        self._lock = threading.Lock()
        self._pending: list[tuple[_Write, asyncio.Future[Any]]] = []
        self._scheduled = False
        self.groups = 0  # transactions run (tests, benchmarks)

    def submit(self, fn: _Write) -> asyncio.Future[Any]:
        """Run `fn(conn)` in the next group; its result or its exception comes back."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._pending.append((fn, future))
            if self._scheduled:
                return future
            self._scheduled = True
        self._executor.submit(self._run_group, loop)
        return future

    # -- on the worker thread ---------------------------------------------------------

    def _run_group(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
            self._scheduled = bool(self._pending)
        if self._scheduled:  # the rest: the next group, behind what is queued now
            self._executor.submit(self._run_group, loop)
        self.groups += 1
        try:
            outcomes = self._held.transaction(
                self._engine, lambda conn: [_in_savepoint(conn, fn) for fn, _ in group]
            )
        except BaseException as exc:  # every write gets the transaction's error
            outcomes = [(False, exc)] * len(group)
        loop.call_soon_threadsafe(_answer, group, outcomes)


def _in_savepoint(conn: Connection, fn: _Write) -> _Outcome:
    driver = conn.connection.driver_connection
    driver.execute("SAVEPOINT glasscloud_write")  # type: ignore[union-attr]
    try:
        value = fn(conn)
    except Exception as exc:  # this write's answer; the others go on
        driver.execute("ROLLBACK TO glasscloud_write")  # type: ignore[union-attr]
        driver.execute("RELEASE glasscloud_write")  # type: ignore[union-attr]
        return False, exc
    driver.execute("RELEASE glasscloud_write")  # type: ignore[union-attr]
    return True, value


def _answer(group: list[tuple[_Write, asyncio.Future[Any]]], outcomes: list[_Outcome]) -> None:
    for (_fn, future), (ok, value) in zip(group, outcomes, strict=True):
        if future.done():  # the caller gave up waiting; the write still ran
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)
