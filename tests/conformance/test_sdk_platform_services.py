"""Conformance: the platform services a published App calls, used through the real,
unmodified `@mentra/sdk@2.1.29` API a third-party developer calls: `session.simpleStorage`,
a webview route behind the SDK's own `createAuthMiddleware` reached with the query
parameters the phone adds, and App-to-App messages between two users' sessions."""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp

from glasscloud.auth.apikeys import hash_api_key
from glasscloud.auth.webview import hash_with_key_hash
from tests.conformance.sdk_app import SdkApp
from tests.conformance.test_sdk_app import PACKAGE, USER, free_port, start_through_glasses
from tests.support.clients import connect_glasses
from tests.support.servers import http_base, token_for, ws_base

BOB = "bob-reader@example.com"


async def test_simple_storage_set_flush_get_survives_a_new_session(server, http, make_sdk_app):
    app = await make_sdk_app({"STORAGE_PROBE": "1"})
    glasses = await start_through_glasses(server, http)
    first = await app.wait_for("storage", timeout=15)
    assert (first["before"], first["after"]) == (None, "1")
    assert await server.store.storage_get_all(PACKAGE, USER) == {"visits": "1"}
    # stop and start again: a new SDK session reads what the last one flushed
    await glasses.send({"type": "stop_app", "packageName": PACKAGE})
    await app.wait_for("stop")
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    await glasses.send({"type": "start_app", "packageName": PACKAGE})
    second = await app.wait_for("storage", timeout=15)
    assert (second["before"], second["after"]) == ("1", "2")
    assert second["keys"] == ["visits"]
    assert await server.store.storage_get_all(PACKAGE, USER) == {"visits": "2"}
    assert app.events_named("storage_error") == []
    await glasses.close()


async def phone_webview_query(http, server, package: str, user: str = USER) -> dict[str, str]:
    """What the reference phone adds to the App's webview URL: a temp token, a signed user
    token, and the cloud URL with its checksum (three calls, as it makes them)."""
    auth = {"Authorization": f"Bearer {token_for(server, user)}"}
    base = http_base(server)
    async with http.post(
        f"{base}/api/auth/generate-webview-token", headers=auth, json={"packageName": package}
    ) as r:
        temp = (await r.json())["token"]
    async with http.post(
        f"{base}/api/auth/generate-webview-signed-user-token",
        headers=auth,
        json={"packageName": package},
    ) as r:
        signed = (await r.json())["token"]
    async with http.post(
        f"{base}/api/auth/hash-with-api-key",
        headers=auth,
        json={"packageName": package, "stringToHash": base},
    ) as r:
        checksum = (await r.json())["hash"]
    return {
        "aos_temp_token": temp,
        "aos_signed_user_token": signed,
        "cloudApiUrl": base,
        "cloudApiUrlChecksum": checksum,
    }


async def open_webview(app: SdkApp, query: dict[str, str]) -> str | None:
    """GET the App's /webview as a fresh webview would (no cookies kept between calls)."""
    url = f"{app.public_url}/webview?{urlencode(query)}"
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser,
        browser.get(url) as response,
    ):
        assert response.status == 200
        return (await response.json())["authUserId"]


async def test_webview_sign_in_through_the_sdk_middleware(server, http):
    async with http.get(f"{http_base(server)}/api/auth/user-token-public-key") as r:
        public_key = (await r.json())["publicKey"]
    other = "com.example.sdkconformance.other"
    apps: dict[str, SdkApp] = {}
    try:
        for package in (PACKAGE, other):
            port = free_port()
            _, key = await server.store.create_app(
                package, package, f"http://127.0.0.1:{port}", app_type="standard"
            )
            apps[package] = SdkApp(
                extra_env={
                    "WEBVIEW_ROUTE": "1",
                    "MENTRAOS_CLOUD_USER_TOKEN_PUBLIC_KEY": public_key,
                }
            )
            await apps[package].start(package, key, port)
            assert (await server.store.get_app(package)).api_key_hash == hash_api_key(key)
        a, b = apps[PACKAGE], apps[other]

        query = await phone_webview_query(http, server, PACKAGE)
        temp_only = {k: v for k, v in query.items() if k != "aos_signed_user_token"}
        # the temp token, exchanged by the SDK at cloudApiUrl (checksum accepted)
        assert await open_webview(a, temp_only) == USER
        # single use: the same URL again signs nobody in
        assert await open_webview(a, temp_only) is None
        # the signed user token, verified by the SDK offline with our public key
        assert (
            await open_webview(a, {"aos_signed_user_token": query["aos_signed_user_token"]}) == USER
        )

        # A's temp token opened in B: B's exchange is refused, no authUserId in B
        query = await phone_webview_query(http, server, PACKAGE)
        record_b = await server.store.get_app(other)
        to_b = {
            "aos_temp_token": query["aos_temp_token"],
            "cloudApiUrl": query["cloudApiUrl"],
            "cloudApiUrlChecksum": hash_with_key_hash(query["cloudApiUrl"], record_b.api_key_hash),
        }
        assert await open_webview(b, to_b) is None
        assert server.metrics.get("webview_exchanges_refused") >= 2
        # a checksum made with A's key does not redirect B to our URL (the SDK falls back to
        # its default cloud, which is not reachable here): still nobody
        query = await phone_webview_query(http, server, PACKAGE)
        assert (
            await open_webview(b, {k: v for k, v in query.items() if k != "aos_signed_user_token"})
            is None
        )
    finally:
        for app in apps.values():
            await app.stop()


async def test_app_messages_between_two_users_sessions(server, http, make_sdk_app):
    app = await make_sdk_app({"APP_COMMS": "1"})
    alice = await start_through_glasses(server, http)
    await app.wait_for("session", lambda e: e["userId"] == USER)
    bob = await connect_glasses(http, ws_base(server), token_for(server, BOB), BOB)
    await bob.wait_for("connection_ack")
    await bob.send({"type": "start_app", "packageName": PACKAGE})
    await bob.wait_for("app_state_change", lambda m: m.get("state") == "running", timeout=15)
    await app.wait_for("session", lambda e: e["userId"] == BOB)
    alice_sid, bob_sid = f"{USER}-{PACKAGE}", f"{BOB}-{PACKAGE}"
    # the SDK's subscription to button_press has reached the cloud for both sessions
    for glasses in (alice, bob):
        await glasses.wait_for(
            "app_state_change",
            lambda m: "button_press" in m["userSession"]["appSubscriptions"].get(PACKAGE, []),
        )

    async def press(glasses, button_id):
        await glasses.send({"type": "button_press", "buttonId": button_id, "pressType": "short"})

    await press(alice, "broadcast")
    got = await app.wait_for("app_message", lambda e: e["sessionId"] == bob_sid)
    assert got["message"]["payload"] == {"text": f"hello from {USER}"}
    assert got["message"]["senderUserId"] == USER

    await press(alice, f"direct:{BOB}")
    result = await app.wait_for("direct_result", lambda e: e["sessionId"] == alice_sid)
    assert result["ok"] is True
    direct = await app.wait_for("app_message", lambda e: e["sessionId"] == bob_sid)
    assert direct["message"]["payload"] == {"text": f"just for {BOB}"}

    # a user who does not run the App is not reachable
    await press(alice, "direct:nobody@example.com")
    result = await app.wait_for("direct_result", lambda e: e["sessionId"] == alice_sid)
    assert result["ok"] is False

    await press(alice, "discover")
    found = await app.wait_for("discovered", lambda e: e["sessionId"] == alice_sid)
    assert found["result"] == {"users": [{"userId": BOB, "sessionId": bob_sid}], "totalUsers": 1}

    # nothing ever came back to the sender's own session
    assert [e for e in app.events_named("app_message") if e["sessionId"] == alice_sid] == []
    assert app.events_named("app_comms_error") == []
    # Bob stops the App: Alice's broadcast no longer reaches him
    await bob.send({"type": "stop_app", "packageName": PACKAGE})
    await app.wait_for("stop", lambda e: e["userId"] == BOB)
    await press(alice, f"direct:{BOB}")
    result = await app.wait_for("direct_result", lambda e: e["sessionId"] == alice_sid)
    assert result["ok"] is False
    await alice.close()
    await bob.close()
