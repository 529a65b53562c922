"""The Store: every read and write glasscloud makes to its database, as plain records.

Each operation is one plain (sync) function run as one whole transaction: on SQLite, one call
on the Store's single worker thread (one thread hop per operation instead of one per statement
through aiosqlite, which cost 1.4-2.8 ms of CPU per operation); on PostgreSQL, through the
async engine's `run_sync`. See engine.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Row, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from glasscloud.auth.apikeys import generate_api_key, hash_api_key
from glasscloud.auth.tokens import generate_secret
from glasscloud.core.records import AppRecord, UserRecord
from glasscloud.store import user_writes, validation
from glasscloud.store.app_data import AppDataStore
from glasscloud.store.dev_tokens import DeveloperTokenStore
from glasscloud.store.engine import WRITE, HeldConnections, create_engine
from glasscloud.store.errors import AppExists, AppNotFound, StoreError
from glasscloud.store.migrations import migrate
from glasscloud.store.schema import (
    app_storage,
    apps,
    schema_version,
    server_meta,
    user_apps,
    users,
    webview_tokens,
)
from glasscloud.store.session_reads import SessionReads, read_for_session, take_user_row
from glasscloud.store.urls import parse_database_url
from glasscloud.store.write_groups import WriteGroups

SECRET_META_KEY = "token_secret"
# What one user's Apps showed is small (a few layouts); a bound keeps a peer from growing it.
MAX_RESUME_STATE_BYTES = 256 * 1024

T = TypeVar("T")


def _now() -> datetime:
    """Naive UTC: the columns are TIMESTAMP without time zone on every backend."""
    return datetime.now(UTC).replace(tzinfo=None)


def _reason(error: BaseException) -> str:
    """The driver's own sentence: "Connect call failed ('127.0.0.1', 5432)" rather than
    "[Errno 111] Connect call failed ...", the exception's name if it has none."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).strip() or type(error).__name__


_OPEN_ATTEMPTS = 8
_FAILURE = "the database operation failed"


class Store(AppDataStore, DeveloperTokenStore, SessionReads):
    """Apps, users, per-user App state and server metadata, on SQLite or PostgreSQL.

    Open with `await Store.open(url)` (which migrates the schema) and close with `close()`,
    or `async with await Store.open(url) as store:`. Database failures surface as StoreError.
    """

    def __init__(self, engine: Engine | AsyncEngine, url: str) -> None:
        self._engine = engine
        self._writer = engine.execution_options(**{WRITE: True})
        self._dialect = engine.dialect.name
        # SQLite (sync engine): every transaction runs on this one thread, so the event loop
        # never blocks and an in-memory database's single connection is never shared.
        self._executor = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="glasscloud-store")
            if isinstance(engine, Engine)
            else None
        )
        self._held = HeldConnections()  # SQLite: used on the worker thread only
        self._groups = (
            WriteGroups(self._executor, self._held, self._writer)  # type: ignore[arg-type]
            if self._executor is not None
            else None
        )
        self._closed = False
        self.url = url
        """The database URL as used (driver included), password hidden (safe to log)."""

    @classmethod
    async def open(cls, url: str) -> Store:
        """Connect to `url` and bring its schema up to date."""
        db = parse_database_url(url)
        safe_url = make_url(db.driver_url).render_as_string(hide_password=True)
        store = cls(create_engine(db), safe_url)
        try:
            for attempt in range(1, _OPEN_ATTEMPTS + 1):
                try:
                    await store._run(migrate, True, f"cannot open the database {safe_url}")
                    break
                except StoreError as exc:
                    # SQLite answers "locked" at once (no busy wait) when several processes
                    # switch a new file to WAL together; that clears within milliseconds.
                    if attempt == _OPEN_ATTEMPTS or "locked" not in str(exc.__cause__):
                        raise
                    await asyncio.sleep(0.05 * attempt)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Wait for the running operation, then close every connection. Operations after
        this raise StoreError."""
        if self._closed:
            return
        self._closed = True
        if isinstance(self._engine, AsyncEngine):
            await self._engine.dispose()
            return
        assert self._executor is not None
        try:
            # Queued behind any running transaction; SQLite connections close on their thread.
            await asyncio.get_running_loop().run_in_executor(self._executor, self._dispose)
        finally:
            self._executor.shutdown(wait=False)

    def _dispose(self) -> None:
        """On the worker thread: close the held connections, then the pool's."""
        try:
            self._held.close()
        finally:
            self._engine.dispose()  # type: ignore[union-attr]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- server metadata -------------------------------------------------------------------

    async def get_or_create_secret(self) -> str:
        """The token-signing secret, generated on first use and kept forever.

        Insert-if-absent then read back, so two processes starting at once agree on one.
        """
        insert = (
            self._insert(server_meta)
            .values(key=SECRET_META_KEY, value=generate_secret())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        query = select(server_meta.c.value).where(server_meta.c.key == SECRET_META_KEY)

        def op(conn: Connection) -> str:
            conn.execute(insert)
            return conn.execute(query).scalar_one()

        return await self._run(op, write=True)

    async def schema_version(self) -> int:
        """The migration version the database is at (a round trip: also the readiness
        check that the database answers)."""
        query = select(func.max(schema_version.c.version))

        def op(conn: Connection) -> int:
            return int(conn.execute(query).scalar() or 0)

        return await self._run(op)

    async def get_meta(self, key: str) -> str | None:
        """A value of the server's own bookkeeping (`server_meta`), or None."""
        query = select(server_meta.c.value).where(server_meta.c.key == key)

        def op(conn: Connection) -> str | None:
            return conn.execute(query).scalar_one_or_none()

        return await self._run(op)

    async def set_meta(self, key: str, value: str) -> None:
        statement = (
            self._insert(server_meta)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )

        def op(conn: Connection) -> None:
            conn.execute(statement)

        await self._run(op, write=True)

    # -- apps ------------------------------------------------------------------------------

    async def create_app(
        self,
        package_name: str,
        name: str,
        public_url: str,
        app_type: str = "background",
        is_system: bool = False,
        permissions: Sequence[str] = (),
        settings_schema: Sequence[dict] = (),
        tools: Sequence[dict] = (),
        webview_url: str = "",
    ) -> tuple[AppRecord, str]:
        """Register an App. Returns its record and its raw API key (only the hash is kept)."""
        key = generate_api_key()
        record = AppRecord(
            package_name=validation.package_name(package_name),
            name=validation.app_name(name),
            public_url=validation.public_url(public_url),
            app_type=validation.app_type(app_type),
            is_system=bool(is_system),
            permissions=validation.permissions(permissions),
            settings_schema=validation.settings_schema(settings_schema),
            api_key_hash=hash_api_key(key),
            key_version=1,
            tools=validation.tools(tools),
            webview_url=validation.webview_url(webview_url),
        )
        now = _now()
        statement = (
            self._insert(apps)
            .values(
                package_name=record.package_name,
                name=record.name,
                public_url=record.public_url,
                app_type=record.app_type,
                is_system=record.is_system,
                permissions=validation.to_json(list(record.permissions), "permissions"),
                settings_schema=validation.to_json(list(record.settings_schema), "settings_schema"),
                api_key_hash=record.api_key_hash,
                key_version=record.key_version,
                tools=validation.to_json(list(record.tools), "tools"),
                webview_url=record.webview_url,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["package_name"])
        )

        def op(conn: Connection) -> None:
            if conn.execute(statement).rowcount == 0:
                raise AppExists(record.package_name)

        await self._run(op, write=True)
        return record, key

    async def get_app(self, package_name: str) -> AppRecord | None:
        query = select(apps).where(apps.c.package_name == package_name)

        def op(conn: Connection) -> Row[Any] | None:
            return conn.execute(query).first()

        row = await self._run(op)
        return _app_record(row) if row is not None else None

    async def list_apps(self) -> list[AppRecord]:
        """All Apps, sorted by package name."""
        query = select(apps).order_by(apps.c.package_name)

        def op(conn: Connection) -> Sequence[Row[Any]]:
            return conn.execute(query).all()

        return [_app_record(row) for row in await self._run(op)]

    async def update_app(self, package_name: str, **changes: Any) -> AppRecord:
        """Change some of an App's fields (`name`, `public_url`, `app_type`, `is_system`,
        `permissions`, `settings_schema`, `tools`, `webview_url`), each validated as on
        create; the key and its version are kept. Returns the new record."""
        columns: dict[str, Any] = {}
        checks: dict[str, Callable[[Any], Any]] = {
            "name": validation.app_name,
            "public_url": validation.public_url,
            "app_type": validation.app_type,
            "is_system": bool,
            "permissions": lambda v: validation.to_json(
                list(validation.permissions(v)), "permissions"
            ),
            "settings_schema": lambda v: validation.to_json(
                list(validation.settings_schema(v)), "settings"
            ),
            "tools": lambda v: validation.to_json(list(validation.tools(v)), "tools"),
            "webview_url": validation.webview_url,
        }
        for name, value in changes.items():
            if name not in checks:
                raise StoreError(f"{name} is not a field of an App that can be changed")
            columns[name] = checks[name](value)
        columns["updated_at"] = _now()
        statement = update(apps).where(apps.c.package_name == package_name).values(**columns)
        query = select(apps).where(apps.c.package_name == package_name)

        def op(conn: Connection) -> Row[Any]:
            if conn.execute(statement).rowcount == 0:
                raise AppNotFound(package_name)
            return conn.execute(query).one()

        return _app_record(await self._run(op, write=True))

    async def delete_app(self, package_name: str) -> None:
        """Remove the App and every user's state for it (running flag, settings, Simple
        Storage, webview tokens)."""
        delete_app = delete(apps).where(apps.c.package_name == package_name)
        delete_state = [
            delete(table).where(table.c.package_name == package_name)
            for table in (user_apps, app_storage, webview_tokens)
        ]

        def op(conn: Connection) -> None:
            if conn.execute(delete_app).rowcount == 0:
                raise AppNotFound(package_name)
            for statement in delete_state:
                conn.execute(statement)

        await self._run(op, write=True)

    async def user_packages(self, user_id: str) -> list[str]:
        """The Apps the user has run or configured (a row in user_apps), sorted."""
        uid = validation.user_id(user_id)
        query = (
            select(user_apps.c.package_name)
            .where(user_apps.c.user_id == uid)
            .order_by(user_apps.c.package_name)
        )

        def op(conn: Connection) -> list[str]:
            return list(conn.execute(query).scalars())

        return await self._run(op)

    async def key_versions(self, package_names: Sequence[str]) -> dict[str, int]:
        """The current key version of each of these Apps (absent ones are left out): one
        cheap query, for noticing a rotation made by another process (the CLI)."""
        names = sorted(set(package_names))
        if not names:
            return {}
        query = select(apps.c.package_name, apps.c.key_version).where(
            apps.c.package_name.in_(names)
        )

        def op(conn: Connection) -> dict[str, int]:
            return {row.package_name: int(row.key_version) for row in conn.execute(query)}

        return await self._run(op)

    async def rotate_api_key(self, package_name: str) -> str:
        """Give the App a new key; the old one stops working at once. Returns the new key."""
        key = generate_api_key()
        statement = (
            update(apps)
            .where(apps.c.package_name == package_name)
            .values(
                api_key_hash=hash_api_key(key),
                key_version=apps.c.key_version + 1,
                updated_at=_now(),
            )
        )

        def op(conn: Connection) -> None:
            if conn.execute(statement).rowcount == 0:
                raise AppNotFound(package_name)

        await self._run(op, write=True)
        return key

    # -- users -----------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> UserRecord:
        """The user's record; a default (no running apps, no settings, epoch 0) if never
        stored."""
        uid = validation.user_id(user_id)

        def op(conn: Connection) -> UserRecord:
            return _read_user(conn, uid)

        return await self._run(op)

    async def take_user(self, user_id: str, epoch: int) -> UserRecord:
        """Take the user over with fencing epoch `epoch` (cluster mode: the node that won the
        user's lease calls this before it restores the session). In one write transaction:
        the user's row is ensured and locked, a stored `owner_epoch` above `epoch` raises
        FencedWrite (a newer owner exists; nothing changes), else `owner_epoch` becomes
        `epoch`. From then on, writes carrying an older epoch are refused. Returns the
        user's record as it is at the takeover, read in the same transaction, so every
        write the old owner got in is in it."""
        uid = validation.user_id(user_id)
        wanted = _epoch(epoch)
        now = _now()
        raise_epoch = update(users).where(users.c.user_id == uid).values(owner_epoch=wanted)

        def op(conn: Connection) -> UserRecord:
            user_writes.ensure_user(conn, uid, now)
            user_writes.check_epoch(conn, uid, wanted)
            conn.execute(raise_epoch)
            return _read_user(conn, uid)

        return await self._run(op, write=True)

    async def take_user_for_session(
        self, user_id: str, epoch: int
    ) -> tuple[UserRecord, dict[str, dict[str, Any]]]:
        """`take_user` and `open_user` in one write transaction: what a node taking a user
        over needs to open the session (the record and every App's stored settings).

        Two statements when the user exists and no newer owner wrote (a storm's every
        user): the conditional UPDATE ... RETURNING (its row lock on PostgreSQL makes check
        and write one step, as FOR UPDATE does in `take_user`) and the Apps' read; only
        otherwise the row is ensured and the epoch checked (FencedWrite) as `take_user`
        does. Measured: 0.57 -> 0.34 ms of CPU per takeover on SQLite (docs/decisions.md, "A
        takeover is two statements")."""
        uid = validation.user_id(user_id)
        wanted = _epoch(epoch)
        now = _now()

        def op(conn: Connection) -> tuple[UserRecord, dict[str, dict[str, Any]]]:
            row = take_user_row(conn, uid, wanted)
            if row is None:  # a new user, or a newer owner's epoch is stored
                user_writes.ensure_user(conn, uid, now)
                user_writes.check_epoch(conn, uid, wanted)
                row = take_user_row(conn, uid, wanted)
                if row is None:
                    raise StoreError(f"the row of user {uid} went missing during a takeover")
            return read_for_session(conn, uid, wanted, row)

        return await self._run(op, write=True, grouped=True)

    async def set_resume_state(
        self, user_id: str, state: dict[str, Any], epoch: int | None = None
    ) -> None:
        """Replace what the user's Apps showed (a JSON object, bounded in size).

        With `epoch` (cluster mode), only if the user's stored `owner_epoch` is not above it,
        checked in the same transaction; else FencedWrite and nothing changes."""
        uid = validation.user_id(user_id)
        fence = None if epoch is None else _epoch(epoch)
        encoded = validation.to_json(validation.json_object(state, "resume_state"), "resume_state")
        if len(encoded) > MAX_RESUME_STATE_BYTES:
            raise StoreError(
                f"resume_state is {len(encoded)} bytes; at most {MAX_RESUME_STATE_BYTES} are kept"
            )
        now = _now()

        def op(conn: Connection) -> None:
            user_writes.ensure_user(conn, uid, now)
            if fence is not None:
                user_writes.check_epoch(conn, uid, fence)
            user_writes.set_resume_state(conn, uid, encoded)

        await self._run(op, write=True, grouped=True)

    async def set_running_apps(
        self, user_id: str, packages: Sequence[str], epoch: int | None = None
    ) -> None:
        """Mark exactly `packages` as running for the user; every other App as stopped.

        With `epoch` (cluster mode), only if the user's stored `owner_epoch` is not above it,
        checked in the same transaction; else FencedWrite and nothing changes."""
        uid = validation.user_id(user_id)
        fence = None if epoch is None else _epoch(epoch)
        if isinstance(packages, str):
            raise StoreError("packages must be a list of package names, not a single string")
        wanted = sorted({validation.package_name(p, "running app") for p in packages})
        now = _now()

        def op(conn: Connection) -> None:
            user_writes.ensure_user(conn, uid, now)
            if fence is not None:
                user_writes.check_epoch(conn, uid, fence)
            user_writes.set_running(conn, uid, wanted, now)

        await self._run(op, write=True, grouped=True)

    async def set_user_settings(self, user_id: str, settings: dict) -> None:
        """Replace the user's settings object."""
        uid = validation.user_id(user_id)
        encoded = validation.to_json(validation.json_object(settings, "settings"), "settings")
        statement = (
            self._insert(users)
            .values(user_id=uid, settings=encoded, created_at=_now())
            .on_conflict_do_update(index_elements=["user_id"], set_={"settings": encoded})
        )

        def op(conn: Connection) -> None:
            conn.execute(statement)

        await self._run(op, write=True)

    # -- per-user App settings ------------------------------------------------------------

    async def get_app_settings(self, user_id: str, package_name: str) -> dict[str, Any]:
        """The user's stored values for the App's settings ({} if none)."""
        uid = validation.user_id(user_id)
        query = select(user_apps.c.settings).where(
            user_apps.c.user_id == uid, user_apps.c.package_name == package_name
        )

        def op(conn: Connection) -> str | None:
            return conn.execute(query).scalar_one_or_none()

        stored = await self._run(op)
        return json.loads(stored) if stored else {}

    async def set_app_settings(
        self, user_id: str, package_name: str, values: dict[str, Any]
    ) -> None:
        """Merge `values` (setting key -> value) into the user's stored values for the App."""
        uid = validation.user_id(user_id)
        package = validation.package_name(package_name)
        values = validation.json_object(values, "app settings")
        validation.to_json(values, "app settings")  # fail before touching the database
        now = _now()
        key = (user_apps.c.user_id == uid, user_apps.c.package_name == package)
        ensure_row = (
            self._insert(user_apps)
            .values(user_id=uid, package_name=package, running=False, settings="{}")
            .on_conflict_do_nothing(index_elements=["user_id", "package_name"])
        )
        # FOR UPDATE serialises concurrent merges on PostgreSQL; SQLite's BEGIN IMMEDIATE
        # already holds the write lock.
        query = select(user_apps.c.settings).where(*key).with_for_update()

        def op(conn: Connection) -> None:
            user_writes.ensure_user(conn, uid, now)
            conn.execute(ensure_row)
            merged = json.loads(conn.execute(query).scalar_one() or "{}")
            merged.update(values)
            conn.execute(
                update(user_apps)
                .where(*key)
                .values(settings=validation.to_json(merged, "app settings"))
            )

        await self._run(op, write=True)

    # -- plumbing --------------------------------------------------------------------------

    async def _run(
        self,
        fn: Callable[[Connection], T],
        write: bool = False,
        failure: str = _FAILURE,
        grouped: bool = False,
    ) -> T:
        """`fn(conn)` as one transaction (write: take the write lock first), committed if it
        returns. SQLite: one call on the worker thread; PostgreSQL: `run_sync`. Database
        failures become StoreError("<failure>: <driver's reason>"), the cause kept for logs.
        `grouped` (a write a storm makes per user): on SQLite, in a savepoint of a
        transaction shared with the other writes waiting then (store/write_groups.py)."""
        if self._closed:
            raise StoreError(f"{failure}: the store is closed")
        engine = self._writer if write else self._engine
        try:
            if isinstance(engine, AsyncEngine):
                async with engine.begin() as aconn:
                    return await aconn.run_sync(fn)
            if grouped and self._groups is not None:
                return await self._groups.submit(fn)  # type: ignore[no-any-return]
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, self._held.transaction, engine, fn)
        except DBAPIError as exc:
            raise StoreError(f"{failure}: {_reason(exc.orig)}") from exc
        except OSError as exc:
            # asyncpg's connect (refused, unreachable host, timed out): SQLAlchemy passes it on
            # unwrapped, and it must reach callers as StoreError like any database failure.
            raise StoreError(f"{failure}: {_reason(exc)}") from exc

    def _insert(self, table: Table) -> Any:
        """INSERT supporting ON CONFLICT for this backend."""
        dialect = postgresql if self._dialect == "postgresql" else sqlite
        return dialect.insert(table)


def _epoch(epoch: int) -> int:
    """A fencing epoch as given: a non-negative int (a bool or a float is a caller's bug)."""
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise StoreError(f"epoch must be a non-negative integer, got {epoch!r}", "epoch")
    return epoch


def _read_user(conn: Connection, uid: str) -> UserRecord:
    """The user's record as `conn` sees it (a default one if the user was never stored)."""
    row = conn.execute(
        select(users.c.settings, users.c.resume_state, users.c.owner_epoch).where(
            users.c.user_id == uid
        )
    ).one_or_none()
    running = conn.execute(
        select(user_apps.c.package_name)
        .where(user_apps.c.user_id == uid, user_apps.c.running.is_(True))
        .order_by(user_apps.c.package_name)
    ).scalars()
    if row is None:
        return UserRecord(user_id=uid, running_apps=tuple(running))
    return UserRecord(
        user_id=uid,
        running_apps=tuple(running),
        settings=json.loads(row.settings) if row.settings else {},
        resume_state=json.loads(row.resume_state) if row.resume_state else {},
        owner_epoch=int(row.owner_epoch),
    )


def _app_record(row: Row[Any]) -> AppRecord:
    return AppRecord(
        package_name=row.package_name,
        name=row.name,
        public_url=row.public_url,
        app_type=row.app_type,
        is_system=bool(row.is_system),
        permissions=tuple(json.loads(row.permissions)),
        settings_schema=tuple(json.loads(row.settings_schema)),
        api_key_hash=row.api_key_hash,
        key_version=row.key_version,
        tools=tuple(json.loads(row.tools)),
        webview_url=row.webview_url,
    )
