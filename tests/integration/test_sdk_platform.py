"""The Python App SDK's parity with the official one for platform services, against a real
glasscloud: Simple Storage, App-to-App messages between two users, webview sign-in."""

from __future__ import annotations

import asyncio

import pytest

from glasscloud.sdk import AppServer
from glasscloud.sdk.storage import StorageError
from glasscloud.sdk.webview import cloud_url_checksum, verify_frontend_token, webview_user
from tests.integration.test_sdk_examples import serve
from tests.support.clients import connect_glasses
from tests.support.servers import http_base, token_for, ws_base

PACKAGE = "com.example.pyplatform"
ALICE, BOB = "alice@example.com", "bob@example.com"


async def running(server, http, app, user):
    glasses = await connect_glasses(http, ws_base(server), token_for(server, user), user)
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": PACKAGE})
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    for _ in range(250):
        session = next((s for s in app.sessions.values() if s.user_id == user), None)
        if session is not None and session.connected:
            return glasses, session
        await asyncio.sleep(0.02)
    raise AssertionError(f"no session for {user}")


@pytest.fixture
async def app(server):
    app = await serve(server, AppServer(PACKAGE, "not-yet", port=0, host="127.0.0.1"))
    yield app
    await app.stop()


async def test_storage_set_flush_get_and_limits(server, http, app):
    glasses, session = await running(server, http, app, ALICE)
    assert await session.storage.get("theme") is None
    await session.storage.set("theme", "dark")
    await session.storage.set("size", "12")
    assert await server.store.storage_get_all(PACKAGE, ALICE) == {}  # not flushed yet
    await session.storage.flush()
    assert await server.store.storage_get_all(PACKAGE, ALICE) == {"theme": "dark", "size": "12"}
    assert sorted(await session.storage.keys()) == ["size", "theme"]
    assert await session.storage.delete("size")
    assert await server.store.storage_get_all(PACKAGE, ALICE) == {"theme": "dark"}
    with pytest.raises(StorageError) as refused:
        await session.storage.set("big", "x" * 100_001)
    assert refused.value.code == "STORAGE_VALUE_TOO_LARGE"
    # the cloud's quota refusal arrives with its code, and the batch stays queued
    for i in range(11):
        await session.storage.set(f"k{i}", "y" * 99_000)
    with pytest.raises(StorageError) as refused:
        await session.storage.flush()
    assert refused.value.code == "STORAGE_QUOTA_EXCEEDED"
    assert "k0" not in await server.store.storage_get_all(PACKAGE, ALICE)
    await glasses.close()


async def test_app_messages_between_two_users(server, http, app):
    alice_glasses, alice = await running(server, http, app, ALICE)
    bob_glasses, bob = await running(server, http, app, BOB)
    received: list[dict] = []
    bob.on_app_message(received.append)
    alice.broadcast_to_app_users({"hello": "everyone"})
    assert await alice.send_direct_message(BOB, {"just": "you"}) is True
    assert await alice.send_direct_message("nobody@example.com", 1) is False
    await bob.drain()
    assert [m["payload"] for m in received] == [{"hello": "everyone"}, {"just": "you"}]
    assert {m["senderUserId"] for m in received} == {ALICE}
    found = await alice.discover_app_users()
    assert found == {"users": [{"userId": BOB, "sessionId": bob.session_id}], "totalUsers": 1}
    await alice_glasses.close()
    await bob_glasses.close()


async def test_webview_user_from_the_phones_query(server, http, app):
    auth = {"Authorization": f"Bearer {token_for(server, ALICE)}"}
    base = http_base(server)

    async def phone(route, **body):
        async with http.post(
            f"{base}/api/auth/{route}", headers=auth, json={"packageName": PACKAGE, **body}
        ) as r:
            return await r.json()

    async with http.get(f"{base}/api/auth/user-token-public-key") as r:
        public_key = (await r.json())["publicKey"]
    temp = (await phone("generate-webview-token"))["token"]
    checksum = (await phone("hash-with-api-key", stringToHash=base))["hash"]
    assert checksum == cloud_url_checksum(base, app.api_key)
    query = {"aos_temp_token": temp, "cloudApiUrl": base, "cloudApiUrlChecksum": checksum}
    common = {"api_key": app.api_key, "package_name": PACKAGE}
    assert await webview_user(http, query, **common) == ALICE
    assert await webview_user(http, query, **common) is None  # used
    signed = (await phone("generate-webview-signed-user-token"))["token"]
    query = {"aos_signed_user_token": signed}
    assert await webview_user(http, query, public_key=public_key, **common) == ALICE
    other = {"api_key": app.api_key, "package_name": "com.example.other"}
    assert await webview_user(http, query, public_key=public_key, **other) is None
    frontend = f"{ALICE}:{cloud_url_checksum(ALICE, app.api_key)}"
    assert verify_frontend_token(frontend, app.api_key) == ALICE
    assert verify_frontend_token(frontend, "another-key") is None
