"""What Apps keep about their users (Simple Storage) and the webview sign-in tokens, as Store
operations. A mixin of `Store` (store.py), so each operation is one transaction on the
Store's worker like every other one.

Simple Storage is scoped to (package, user): every statement names both, taken from the
authenticated App and the route, never from the body. Values are strings; a value is at most
`MAX_VALUE_CHARS` characters (the SDK's own `MAX_VALUE_SIZE` check, on `value.length`) and the
keys and values of one (package, user) at most `MAX_TOTAL_BYTES` UTF-8 bytes together. A write
that would break either limit stores nothing (the whole batch is refused).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.engine import Connection

from glasscloud.store import validation
from glasscloud.store.errors import StoreError
from glasscloud.store.schema import app_storage, server_meta, webview_tokens

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from sqlalchemy import Table

MAX_VALUE_CHARS = 100_000
MAX_TOTAL_BYTES = 1024 * 1024
MAX_KEY_CHARS = 256


class StorageLimit(StoreError):
    """A Simple Storage write over a limit. `code` names which; `field` the key."""

    def __init__(self, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True, slots=True)
class WebviewGrant:
    user_id: str
    package_name: str


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def entry_size(key: str, value: str) -> int:
    return len(key.encode("utf-8")) + len(value.encode("utf-8"))


def check_entries(data: Mapping[str, Any], prefix: str = "data") -> dict[str, str]:
    """The batch as {key: value}, or StoreError naming the first bad entry (`prefix.key`)."""
    if not isinstance(data, Mapping):
        raise StorageLimit("INVALID_FIELD", f"`{prefix}` must be an object of key: string.", prefix)
    out: dict[str, str] = {}
    for key, value in data.items():
        check_key(key)
        if not isinstance(value, str):
            raise StorageLimit(
                "INVALID_FIELD",
                f"`{prefix}.{key}` must be a string (Simple Storage keeps strings; "
                "JSON.stringify other values).",
                f"{prefix}.{key}",
            )
        if len(value) > MAX_VALUE_CHARS:
            raise StorageLimit(
                "STORAGE_VALUE_TOO_LARGE",
                f"`{prefix}.{key}` is {len(value)} characters; a value may have at most "
                f"{MAX_VALUE_CHARS}.",
                f"{prefix}.{key}",
            )
        out[key] = value
    return out


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise StorageLimit(
            "INVALID_FIELD",
            f"A Simple Storage key must be a non-empty string of at most {MAX_KEY_CHARS} "
            f"characters, got {str(key)[:40]!r}.",
            "key",
        )
    return key


class AppDataStore:
    """Mixin: needs `_run` and `_insert` of `Store`."""

    _run: Callable[..., Awaitable[Any]]
    _insert: Callable[[Table], Any]

    # -- server key material ---------------------------------------------------------------

    async def get_or_create_meta(self, key: str, make: Callable[[], str]) -> str:
        """`server_meta[key]`, set to `make()` on first use (insert-if-absent, then read back,
        so two processes starting at once agree on one value)."""
        fresh = make()
        insert = (
            self._insert(server_meta)
            .values(key=key, value=fresh)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        query = select(server_meta.c.value).where(server_meta.c.key == key)

        def op(conn: Connection) -> str:
            conn.execute(insert)
            return conn.execute(query).scalar_one()

        return await self._run(op, write=True)

    # -- Simple Storage --------------------------------------------------------------------

    async def storage_get_all(self, package_name: str, user_id: str) -> dict[str, str]:
        query = select(app_storage.c.key, app_storage.c.value).where(
            app_storage.c.package_name == package_name, app_storage.c.user_id == user_id
        )

        def op(conn: Connection) -> dict[str, str]:
            return {row.key: row.value for row in conn.execute(query)}

        return await self._run(op)

    async def storage_get(self, package_name: str, user_id: str, key: str) -> str | None:
        query = select(app_storage.c.value).where(
            app_storage.c.package_name == package_name,
            app_storage.c.user_id == user_id,
            app_storage.c.key == key,
        )

        def op(conn: Connection) -> str | None:
            return conn.execute(query).scalar_one_or_none()

        return await self._run(op)

    async def storage_put(self, package_name: str, user_id: str, data: Mapping[str, Any]) -> int:
        """Upsert the batch (all or nothing). Returns the (package, user) total in bytes after
        it. Raises StorageLimit."""
        uid = validation.user_id(user_id)
        entries = check_entries(data)
        scope = (app_storage.c.package_name == package_name, app_storage.c.user_id == uid)
        now = _now()

        def op(conn: Connection) -> int:
            if conn.dialect.name == "postgresql":
                # Serialise writers of one (package, user), so two batches cannot both pass
                # the quota check (SQLite's BEGIN IMMEDIATE already holds the write lock).
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:scope))"),
                    {"scope": f"app_storage/{package_name}/{uid}"},
                )
            sizes = dict(
                conn.execute(select(app_storage.c.key, app_storage.c.size).where(*scope)).all()
            )
            for key, value in entries.items():
                sizes[key] = entry_size(key, value)
            total = sum(sizes.values())
            if total > MAX_TOTAL_BYTES:
                raise StorageLimit(
                    "STORAGE_QUOTA_EXCEEDED",
                    f"{package_name} would keep {total} bytes for this user; at most "
                    f"{MAX_TOTAL_BYTES} bytes (keys and values) are kept per App and user.",
                    "data",
                )
            for key, value in entries.items():
                size = entry_size(key, value)
                conn.execute(
                    self._insert(app_storage)
                    .values(
                        package_name=package_name,
                        user_id=uid,
                        key=key,
                        value=value,
                        size=size,
                        updated_at=now,
                    )
                    .on_conflict_do_update(
                        index_elements=["package_name", "user_id", "key"],
                        set_={"value": value, "size": size, "updated_at": now},
                    )
                )
            return total

        return await self._run(op, write=True)

    async def storage_delete(self, package_name: str, user_id: str, key: str | None) -> int:
        """Delete one key, or every key of (package, user) when `key` is None. Returns how
        many were deleted."""
        statement = delete(app_storage).where(
            app_storage.c.package_name == package_name, app_storage.c.user_id == user_id
        )
        if key is not None:
            statement = statement.where(app_storage.c.key == key)

        def op(conn: Connection) -> int:
            return conn.execute(statement).rowcount

        return await self._run(op, write=True)

    async def storage_usage(self, package_name: str, user_id: str) -> int:
        query = select(func.coalesce(func.sum(app_storage.c.size), 0)).where(
            app_storage.c.package_name == package_name, app_storage.c.user_id == user_id
        )

        def op(conn: Connection) -> int:
            return int(conn.execute(query).scalar_one())

        return await self._run(op)

    # -- webview temporary tokens ----------------------------------------------------------

    async def add_webview_token(
        self, token: str, user_id: str, package_name: str, expires_at: float
    ) -> None:
        """Keep a temporary token (its digest; `expires_at` in wall seconds, kept as
        milliseconds), and forget the expired ones."""
        statement = self._insert(webview_tokens).values(
            token_hash=token_digest(token),
            user_id=user_id,
            package_name=package_name,
            expires_at=int(expires_at * 1000),
        )
        sweep = delete(webview_tokens).where(webview_tokens.c.expires_at < int(time.time() * 1000))

        def op(conn: Connection) -> None:
            conn.execute(sweep)
            conn.execute(statement)

        await self._run(op, write=True)

    async def take_webview_token(self, token: str, now: float) -> WebviewGrant | None:
        """Consume a temporary token: its grant if it exists and has not expired, else None.
        Deleted either way, so it works once."""
        digest = token_digest(token)
        query = select(webview_tokens).where(webview_tokens.c.token_hash == digest)
        statement = delete(webview_tokens).where(webview_tokens.c.token_hash == digest)

        def op(conn: Connection) -> WebviewGrant | None:
            row = conn.execute(query).first()
            if row is None:
                return None
            conn.execute(statement)
            if row.expires_at < now * 1000:
                return None
            return WebviewGrant(row.user_id, row.package_name)

        return await self._run(op, write=True)
