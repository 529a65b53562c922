"""Database URL normalisation: the URLs users type, turned into the URLs of the drivers
glasscloud uses (the stdlib sqlite3 on the Store's worker thread, asyncpg for PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glasscloud.store.errors import StoreError

_SQLITE_PREFIXES = ("sqlite+aiosqlite://", "sqlite://")
_POSTGRES_PREFIXES = ("postgresql+asyncpg://", "postgresql://", "postgres://")
_MEMORY = ":memory:"


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A normalised database URL.

    `sqlite_path` is the absolute database file for SQLite (None for PostgreSQL and for an
    in-memory SQLite database).
    """

    dialect: str  # "sqlite" or "postgresql"
    driver_url: str
    sqlite_path: Path | None = None

    @property
    def is_memory(self) -> bool:
        return self.dialect == "sqlite" and self.sqlite_path is None


def parse_database_url(url: str) -> DatabaseUrl:
    """Accept sqlite:///path, postgres(ql)://..., postgresql+asyncpg://..., and the older
    sqlite+aiosqlite:///path.

    A relative SQLite path is resolved against the working directory now, so the engine
    never depends on a later chdir.
    """
    text = url.strip()
    for prefix in _SQLITE_PREFIXES:
        if text.startswith(prefix):
            return _sqlite(url, text[len(prefix) :])
    for prefix in _POSTGRES_PREFIXES:
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if not rest:
                break
            return DatabaseUrl("postgresql", "postgresql+asyncpg://" + rest)
    raise StoreError(f"unsupported database URL '{url}': use sqlite:///path or postgresql://...")


def _sqlite(original: str, rest: str) -> DatabaseUrl:
    # rest is "" (sqlite://), "/relative.db", "//abs.db" or "/:memory:"; a query string is kept.
    path_part, sep, query = rest.partition("?")
    suffix = sep + query
    if path_part in ("", "/", "/" + _MEMORY):
        return DatabaseUrl("sqlite", "sqlite:///" + _MEMORY + suffix)
    if not path_part.startswith("/"):
        raise StoreError(
            f"unsupported database URL '{original}': use sqlite:///relative.db or "
            "sqlite:////absolute/path.db"
        )
    path = Path(path_part[1:]).expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    return DatabaseUrl("sqlite", "sqlite:///" + str(path) + suffix, sqlite_path=path)
