"""Store operations of Simple Storage and webview tokens (store/app_data.py), on SQLite and
a real PostgreSQL (`store_url`)."""

from __future__ import annotations

import pytest

from glasscloud.store.app_data import MAX_TOTAL_BYTES, StorageLimit
from glasscloud.store.store import Store


@pytest.fixture
async def store(store_url):
    store = await Store.open(store_url)
    yield store
    await store.close()


async def test_storage_is_keyed_by_package_user_and_key(store):
    await store.storage_put("a", "U@Example.com", {"k": "1"})
    await store.storage_put("b", "u@example.com", {"k": "2"})
    assert await store.storage_get_all("a", "u@example.com") == {"k": "1"}
    assert await store.storage_get("b", "u@example.com", "k") == "2"
    assert await store.storage_delete("a", "u@example.com", None) == 1
    assert await store.storage_get_all("b", "u@example.com") == {"k": "2"}


async def test_a_batch_over_the_quota_stores_nothing(store):
    await store.storage_put("a", "u", {"small": "x"})
    batch = {f"k{i}": "y" * 99_000 for i in range(MAX_TOTAL_BYTES // 99_000 + 1)}
    with pytest.raises(StorageLimit) as refused:
        await store.storage_put("a", "u", batch)
    assert refused.value.code == "STORAGE_QUOTA_EXCEEDED"
    assert await store.storage_get_all("a", "u") == {"small": "x"}
    assert await store.storage_usage("a", "u") == len("small") + 1


async def test_webview_tokens_work_once_and_expire(store):
    await store.add_webview_token("t1", "u", "a", expires_at=2_000_000_000.0)
    grant = await store.take_webview_token("t1", now=1_900_000_000.0)
    assert (grant.user_id, grant.package_name) == ("u", "a")
    assert await store.take_webview_token("t1", now=1_900_000_000.0) is None
    await store.add_webview_token("t2", "u", "a", expires_at=1_000.0)
    assert await store.take_webview_token("t2", now=1_001.0) is None
    assert await store.take_webview_token("never-issued", now=0) is None


async def test_meta_is_made_once(store):
    first = await store.get_or_create_meta("k", lambda: "one")
    assert await store.get_or_create_meta("k", lambda: "two") == first == "one"
