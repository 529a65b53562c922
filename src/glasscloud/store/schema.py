"""Table definitions used to build queries. The DDL that creates them lives in migrations.py.

JSON columns are plain text holding json.dumps output, identical on SQLite and PostgreSQL.
Timestamps are naive UTC datetimes (TIMESTAMP without time zone on both).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

metadata = MetaData()

apps = Table(
    "apps",
    metadata,
    Column("package_name", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("public_url", Text, nullable=False),
    Column("app_type", Text, nullable=False),
    Column("is_system", Boolean, nullable=False),
    Column("permissions", Text, nullable=False),  # JSON list of permission names
    Column("settings_schema", Text, nullable=False),  # JSON list of setting definitions
    Column("api_key_hash", Text, nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("tools", Text, nullable=False),  # JSON list of tool definitions
    Column("webview_url", Text, nullable=False),  # "" when the App has no web page
)

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),  # lower-cased e-mail
    Column("settings", Text, nullable=False),  # JSON object
    Column("created_at", DateTime, nullable=False),
    Column("resume_state", Text, nullable=False),  # JSON: package -> what it showed
    # Cluster mode: the highest fencing epoch a node took the user with (Store.take_user);
    # writes carrying an older epoch are refused (FencedWrite).
    Column("owner_epoch", BigInteger, nullable=False),
)

# No foreign keys: a user may run or configure a package the store does not know (yet),
# and deleting an App removes its rows here in the same transaction (Store.delete_app).
user_apps = Table(
    "user_apps",
    metadata,
    Column("user_id", Text, nullable=False),
    Column("package_name", Text, nullable=False),
    Column("running", Boolean, nullable=False),
    Column("settings", Text, nullable=False),  # JSON object: setting key -> value
    Column("last_active_at", DateTime, nullable=True),
    PrimaryKeyConstraint("user_id", "package_name"),
)

# Simple Storage: string values an App keeps per user. `size` = UTF-8 bytes of key + value,
# summed for the per-(App, user) quota.
app_storage = Table(
    "app_storage",
    metadata,
    Column("package_name", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    PrimaryKeyConstraint("package_name", "user_id", "key"),
)

# Webview sign-in: temporary tokens, kept only as a SHA-256 digest, deleted when used.
webview_tokens = Table(
    "webview_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("user_id", Text, nullable=False),
    Column("package_name", Text, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # wall-clock milliseconds
)

# Developer tokens issued since they carry an id: wall-clock seconds; expires_at NULL = never.
developer_tokens = Table(
    "developer_tokens",
    metadata,
    Column("token_id", Text, primary_key=True),
    Column("email", Text, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

server_meta = Table(
    "server_meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime, nullable=False),
)
