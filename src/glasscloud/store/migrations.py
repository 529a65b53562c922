"""A tiny versioned migration runner, run by Store.open.

Why not Alembic: the schema is four small tables, and a self-hosted server must upgrade its
own database on start with zero setup (no alembic.ini, no env.py, no separate command). An
ordered list of SQL steps plus a `schema_version` table does that in a page.

Rules for changing the schema:
- never edit a step once released; append a new `Migration` with the next version number;
- write DDL that runs on both SQLite and PostgreSQL (TEXT, INTEGER, BOOLEAN, TIMESTAMP);
- update schema.py to match (a unit test compares the two).

Two processes may open the same database at once, so the whole run is one transaction that
first takes the write lock (BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL): the
second process waits, then finds the schema current and does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection

from glasscloud.store.errors import StoreError
from glasscloud.store.schema import schema_version


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "apps, users, user_apps and server_meta",
        (
            """CREATE TABLE apps (
                package_name TEXT NOT NULL PRIMARY KEY,
                name TEXT NOT NULL,
                public_url TEXT NOT NULL,
                app_type TEXT NOT NULL,
                is_system BOOLEAN NOT NULL DEFAULT FALSE,
                permissions TEXT NOT NULL DEFAULT '[]',
                settings_schema TEXT NOT NULL DEFAULT '[]',
                api_key_hash TEXT NOT NULL,
                key_version INTEGER NOT NULL DEFAULT 1,
                created_at TIMESTAMP NOT NULL,
                updated_at TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE users (
                user_id TEXT NOT NULL PRIMARY KEY,
                settings TEXT NOT NULL DEFAULT '{}',
                created_at TIMESTAMP NOT NULL
            )""",
            """CREATE TABLE user_apps (
                user_id TEXT NOT NULL,
                package_name TEXT NOT NULL,
                running BOOLEAN NOT NULL DEFAULT FALSE,
                settings TEXT NOT NULL DEFAULT '{}',
                last_active_at TIMESTAMP,
                PRIMARY KEY (user_id, package_name)
            )""",
            "CREATE INDEX ix_user_apps_running ON user_apps (user_id, running)",
            """CREATE TABLE server_meta (
                key TEXT NOT NULL PRIMARY KEY,
                value TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        2,
        "users.resume_state: what each App showed, shown again after a restart",
        ("ALTER TABLE users ADD COLUMN resume_state TEXT NOT NULL DEFAULT '{}'",),
    ),
    Migration(
        3,
        "Simple Storage (app_storage), single-use webview tokens, and each App's AI tools "
        "and web page (apps.tools, apps.webview_url)",
        (
            """CREATE TABLE app_storage (
                package_name TEXT NOT NULL,
                user_id TEXT NOT NULL,
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                size INTEGER NOT NULL,
                updated_at TIMESTAMP NOT NULL,
                PRIMARY KEY (package_name, user_id, key)
            )""",
            """CREATE TABLE webview_tokens (
                token_hash TEXT NOT NULL PRIMARY KEY,
                user_id TEXT NOT NULL,
                package_name TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            )""",
            "CREATE INDEX ix_webview_tokens_expires ON webview_tokens (expires_at)",
            "ALTER TABLE apps ADD COLUMN tools TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE apps ADD COLUMN webview_url TEXT NOT NULL DEFAULT ''",
        ),
    ),
    Migration(
        4,
        "developer_tokens: issued developer tokens (id, expiry), revocable",
        (
            """CREATE TABLE developer_tokens (
                token_id TEXT NOT NULL PRIMARY KEY,
                email TEXT NOT NULL,
                issued_at BIGINT NOT NULL,
                expires_at BIGINT,
                revoked_at BIGINT
            )""",
        ),
    ),
    Migration(
        5,
        "users.owner_epoch: the fencing epoch of the node that last took the user over",
        ("ALTER TABLE users ADD COLUMN owner_epoch BIGINT NOT NULL DEFAULT 0",),
    ),
)

LATEST_VERSION = len(MIGRATIONS)

_CREATE_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER NOT NULL PRIMARY KEY,
    applied_at TIMESTAMP NOT NULL
)"""

# Any fixed 64-bit number works; it only has to be the same in every glasscloud process.
_PG_LOCK_KEY = 0x676C617373636C64  # "glasscld"

if [m.version for m in MIGRATIONS] != list(range(1, LATEST_VERSION + 1)):
    raise RuntimeError("migration versions must be 1, 2, 3, ... in order")


def migrate(conn: Connection) -> int:
    """Bring the schema up to LATEST_VERSION inside the caller's (write) transaction.

    Sync, like every Store operation: the Store runs it as one call on its SQLite worker
    thread, or through `run_sync` on PostgreSQL.

    Returns the version found before migrating. Raises StoreError if the database was
    written by a newer glasscloud.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    conn.exec_driver_sql(_CREATE_VERSION_TABLE)
    found = conn.execute(select(func.max(schema_version.c.version))).scalar() or 0
    if found > LATEST_VERSION:
        raise StoreError(
            f"the database schema is version {found} but this glasscloud only knows up to "
            f"version {LATEST_VERSION}: upgrade glasscloud"
        )
    for step in MIGRATIONS[found:]:
        for statement in step.statements:
            conn.exec_driver_sql(statement)
        now = datetime.now(UTC).replace(tzinfo=None)
        conn.execute(insert(schema_version).values(version=step.version, applied_at=now))
    return found
