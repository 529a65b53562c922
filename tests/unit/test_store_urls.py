"""Database URL normalisation (PostgreSQL is only converted here, never connected to)."""

from __future__ import annotations

from pathlib import Path

import pytest

from glasscloud.store.errors import StoreError
from glasscloud.store.urls import parse_database_url


def test_relative_sqlite_path_is_resolved_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = parse_database_url("sqlite:///data/glass.db")
    assert db.dialect == "sqlite"
    assert db.sqlite_path == tmp_path / "data" / "glass.db"
    assert db.driver_url == f"sqlite:///{tmp_path}/data/glass.db"
    assert not db.is_memory


@pytest.mark.parametrize("prefix", ["sqlite:///", "sqlite+aiosqlite:///"])
def test_absolute_sqlite_path(prefix):
    db = parse_database_url(prefix + "/srv/glass/glass.db")
    assert db.sqlite_path == Path("/srv/glass/glass.db")
    assert db.driver_url == "sqlite:////srv/glass/glass.db"


def test_sqlite_query_string_is_kept_but_not_part_of_the_path():
    db = parse_database_url("sqlite:////tmp/x.db?timeout=3")
    assert db.sqlite_path == Path("/tmp/x.db")
    assert db.driver_url == "sqlite:////tmp/x.db?timeout=3"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite://"])
def test_in_memory_sqlite(url):
    db = parse_database_url(url)
    assert db.is_memory
    assert db.sqlite_path is None
    assert db.driver_url == "sqlite:///:memory:"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://glass:pw@db.local:5432/glass",
        "postgres://glass:pw@db.local:5432/glass",
        "postgresql+asyncpg://glass:pw@db.local:5432/glass",
    ],
)
def test_postgres_urls_use_asyncpg(url):
    db = parse_database_url(url)
    assert db.dialect == "postgresql"
    assert db.driver_url == "postgresql+asyncpg://glass:pw@db.local:5432/glass"
    assert db.sqlite_path is None
    assert not db.is_memory


@pytest.mark.parametrize(
    "url",
    [
        "mysql://x@y/z",
        "postgresql+psycopg2://x@y/z",
        "/var/lib/glass.db",
        "glass.db",
        "",
        "sqlite:relative.db",
        "sqlite://host/x.db",
        "postgresql://",
    ],
)
def test_other_urls_are_refused_with_one_sentence(url):
    with pytest.raises(StoreError) as info:
        parse_database_url(url)
    message = info.value.message
    assert "\n" not in message
    assert "sqlite:///" in message
    if url.startswith(("mysql", "postgresql+psycopg2", "/", "glass")) or url == "":
        assert message == (
            f"unsupported database URL '{url}': use sqlite:///path or postgresql://..."
        )
