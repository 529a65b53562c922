"""Persistence behind a small repository API: SQLite by default, PostgreSQL by URL."""

from glasscloud.core.records import AppRecord, UserRecord
from glasscloud.store.errors import AppExists, AppNotFound, FencedWrite, StoreError
from glasscloud.store.store import Store

__all__ = [
    "AppExists",
    "AppNotFound",
    "AppRecord",
    "FencedWrite",
    "Store",
    "StoreError",
    "UserRecord",
]
