"""Migration 3 (an App's tools and web page), and updating and deleting Apps in the store
(on SQLite and a real PostgreSQL: `store_url`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from glasscloud.store import Store
from glasscloud.store.errors import AppNotFound, StoreError
from glasscloud.store.migrations import MIGRATIONS

TOOLS = ({"id": "add_note", "description": "Add a note"},)


@pytest.fixture
def url(store_url: str) -> str:
    return store_url


async def test_a_version_2_database_gains_tools_and_webview_url(tmp_path: Path):
    url = f"sqlite:///{tmp_path}/glass.db"
    db = sqlite3.connect(tmp_path / "glass.db")
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMP)")
    for step in MIGRATIONS[:2]:
        for statement in step.statements:
            db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (?, '2026-01-01 00:00:00')", (step.version,))
    db.execute(
        "INSERT INTO apps (package_name, name, public_url, app_type, api_key_hash, created_at,"
        " updated_at) VALUES ('com.example.old', 'Old', 'http://a.b', 'standard', 'h',"
        " '2026-01-01', '2026-01-01')"
    )
    db.commit()
    db.close()
    async with await Store.open(url) as store:
        old = await store.get_app("com.example.old")
        assert old.tools == () and old.webview_url == ""
        assert old.public_view()["webviewURL"] is None


async def test_update_keeps_the_key_and_validates_each_field(url):
    async with await Store.open(url) as store:
        created, _ = await store.create_app("com.example.a", "A", "http://a.b")
        updated = await store.update_app(
            "com.example.a", tools=TOOLS, webview_url="https://a.b/web", name="A2"
        )
        assert updated.tools == TOOLS and updated.webview_url == "https://a.b/web"
        assert (updated.api_key_hash, updated.key_version) == (
            created.api_key_hash,
            created.key_version,
        )
        assert await store.get_app("com.example.a") == updated
        with pytest.raises(StoreError, match="tools"):
            await store.update_app("com.example.a", tools=[{"id": ""}])
        with pytest.raises(StoreError, match="api_key_hash is not a field"):
            await store.update_app("com.example.a", api_key_hash="x")
        with pytest.raises(AppNotFound):
            await store.update_app("com.example.none", name="x")
        assert await store.get_app("com.example.a") == updated


async def test_delete_removes_every_users_state_for_the_app(url):
    async with await Store.open(url) as store:
        await store.create_app("com.example.a", "A", "http://a.b")
        await store.create_app("com.example.b", "B", "http://a.b")
        await store.set_app_settings("u@x.org", "com.example.a", {"k": 1})
        await store.set_running_apps("u@x.org", ["com.example.a", "com.example.b"])
        await store.storage_put("com.example.a", "u@x.org", {"k": "v"})
        await store.storage_put("com.example.b", "u@x.org", {"k": "w"})
        assert await store.user_packages("u@x.org") == ["com.example.a", "com.example.b"]
        await store.delete_app("com.example.a")
        assert await store.storage_get_all("com.example.a", "u@x.org") == {}
        assert await store.storage_get_all("com.example.b", "u@x.org") == {"k": "w"}
        assert await store.get_app("com.example.a") is None
        assert await store.user_packages("u@x.org") == ["com.example.b"]
        assert (await store.get_user("u@x.org")).running_apps == ("com.example.b",)
        assert await store.get_app_settings("u@x.org", "com.example.a") == {}
        with pytest.raises(AppNotFound):
            await store.delete_app("com.example.a")
