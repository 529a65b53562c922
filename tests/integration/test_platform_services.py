"""Simple Storage, webview sign-in and public App info over real sockets: what works, and
every route's bad input (a code, a sentence naming the field, nothing stored)."""

from __future__ import annotations

import hashlib
import time

import pytest

from glasscloud.auth import webview
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import http_base, serving, token_for

A, B = "com.example.alpha", "com.example.beta"
ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
async def keys(server):
    _, key_a = await server.store.create_app(
        A, "Alpha", "http://127.0.0.1:9", app_type="standard", permissions=("MICROPHONE",)
    )
    _, key_b = await server.store.create_app(B, "Beta", "http://127.0.0.1:9")
    return {A: key_a, B: key_b}


def storage(server, user=ALICE, key=None):
    url = f"{http_base(server)}/api/sdk/simple-storage/{user}"
    return url + (f"/{key}" if key else "")


def sdk_auth(package, key):
    return {"Authorization": f"Bearer {package}:{key}"}


async def call(http, method, url, **kw):
    async with http.request(method, url, **kw) as response:
        return response.status, await response.json()


# ---- Simple Storage ----------------------------------------------------------------------


async def test_storage_is_scoped_to_app_and_user(server, http, keys):
    auth_a, auth_b = sdk_auth(A, keys[A]), sdk_auth(B, keys[B])
    status, body = await call(
        http, "PUT", storage(server), headers=auth_a, json={"data": {"theme": "dark", "n": "1"}}
    )
    assert status == 200 and body["success"] is True
    assert await call(http, "GET", storage(server), headers=auth_a) == (
        200,
        {"success": True, "data": {"theme": "dark", "n": "1"}},
    )
    # another App, same user: nothing; same App, another user: nothing
    assert (await call(http, "GET", storage(server), headers=auth_b))[1]["data"] == {}
    assert (await call(http, "GET", storage(server, BOB), headers=auth_a))[1]["data"] == {}
    status, body = await call(http, "GET", storage(server, key="theme"), headers=auth_b)
    assert body["data"] == {"key": "theme", "value": None}
    # B writing the same key does not touch A's
    await call(http, "PUT", storage(server, key="theme"), headers=auth_b, json={"value": "x"})
    _, body = await call(http, "GET", storage(server, key="theme"), headers=auth_a)
    assert body["data"]["value"] == "dark"
    # delete one key, then clear
    assert (await call(http, "DELETE", storage(server, key="n"), headers=auth_a))[0] == 200
    assert (await call(http, "GET", storage(server), headers=auth_a))[1]["data"] == {
        "theme": "dark"
    }
    assert (await call(http, "DELETE", storage(server), headers=auth_a))[1]["success"] is True
    assert (await call(http, "GET", storage(server), headers=auth_a))[1]["data"] == {}
    assert (await call(http, "GET", storage(server), headers=auth_b))[1]["data"] == {"theme": "x"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer {A}"},
        {"Authorization": "Bearer com.unknown:0123"},
    ],
)
async def test_storage_refuses_missing_or_unknown_credentials(server, http, keys, headers):
    status, body = await call(http, "GET", storage(server), headers=headers)
    assert status == 401
    assert body["success"] is False
    assert body["error"]["code"] in ("MISSING_TOKEN", "INVALID_API_KEY")
    assert body["error"]["field"] == "Authorization"


async def test_a_package_name_with_another_apps_key_is_401(server, http, keys):
    await call(
        http, "PUT", storage(server), headers=sdk_auth(A, keys[A]), json={"data": {"k": "v"}}
    )
    for verb in ("GET", "PUT", "DELETE"):
        status, body = await call(
            http, verb, storage(server), headers=sdk_auth(A, keys[B]), json={"data": {"k": "w"}}
        )
        assert (status, body["error"]["code"]) == (401, "INVALID_API_KEY"), verb
    assert await server.store.storage_get_all(A, ALICE) == {"k": "v"}


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ("not json", 400, "MALFORMED_MESSAGE", "body"),
        ([1, 2], 400, "MALFORMED_MESSAGE", "body"),
        ({}, 400, "INVALID_FIELD", "data"),
        ({"data": "x"}, 400, "INVALID_FIELD", "data"),
        ({"data": {"ok": "1", "n": 5}}, 400, "INVALID_FIELD", "data.n"),
        ({"data": {"ok": "1", "": "v"}}, 400, "INVALID_FIELD", "key"),
        ({"data": {"ok": "1", "big": "x" * 100_001}}, 413, "STORAGE_VALUE_TOO_LARGE", "data.big"),
    ],
)
async def test_storage_bad_batches_store_nothing(server, http, keys, body, status, code, field):
    kwargs = {"data": body} if isinstance(body, str) else {"json": body}
    got_status, got = await call(
        http, "PUT", storage(server), headers=sdk_auth(A, keys[A]), **kwargs
    )
    assert got_status == status
    assert got["error"]["code"] == code
    assert got["error"]["field"] == field
    assert got["error"]["message"]
    assert await server.store.storage_get_all(A, ALICE) == {}


async def test_storage_quota_per_app_and_user(server, http, keys):
    auth = sdk_auth(A, keys[A])
    chunk = "y" * 99_000
    batch = {f"k{i}": chunk for i in range(10)}  # ~990 KB: fits
    status, _ = await call(http, "PUT", storage(server), headers=auth, json={"data": batch})
    assert status == 200
    status, body = await call(
        http, "PUT", storage(server), headers=auth, json={"data": {"more": chunk}}
    )
    assert (status, body["error"]["code"]) == (413, "STORAGE_QUOTA_EXCEEDED")
    assert "more" not in await server.store.storage_get_all(A, ALICE)
    # the quota is per (App, user): Bob and App B are unaffected
    status, _ = await call(http, "PUT", storage(server, BOB), headers=auth, json={"data": batch})
    assert status == 200
    # overwriting an existing key counts its new size, not both
    status, _ = await call(
        http, "PUT", storage(server, key="k0"), headers=auth, json={"value": chunk}
    )
    assert status == 200


async def test_storage_single_key_put_checks_value(server, http, keys):
    auth = sdk_auth(A, keys[A])
    status, body = await call(http, "PUT", storage(server, key="k"), headers=auth, json={"v": 1})
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        400,
        "INVALID_FIELD",
        "value",
    )
    status, body = await call(
        http, "PUT", storage(server, key="k"), headers=auth, json={"value": "z" * 100_001}
    )
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        413,
        "STORAGE_VALUE_TOO_LARGE",
        "value",
    )
    status, body = await call(http, "GET", storage(server, key="k" * 300), headers=auth)
    assert (status, body["error"]["field"]) == (400, "key")
    assert await server.store.storage_get_all(A, ALICE) == {}


# ---- webview sign-in -----------------------------------------------------------------------


def phone(server, user=ALICE):
    return {"Authorization": f"Bearer {token_for(server, user)}"}


async def temp_token(server, http, package=A, user=ALICE):
    status, body = await call(
        http,
        "POST",
        f"{http_base(server)}/api/auth/generate-webview-token",
        headers=phone(server, user),
        json={"packageName": package},
    )
    assert status == 200, body
    return body["token"]


async def exchange(server, http, token, package, key):
    return await call(
        http,
        "POST",
        f"{http_base(server)}/api/auth/exchange-user-token",
        headers={"Authorization": f"Bearer {key}"},
        json={"aos_temp_token": token, "packageName": package},
    )


async def test_temp_token_exchange_is_single_use_and_per_app(server, http, keys):
    token = await temp_token(server, http)
    assert await exchange(server, http, token, A, keys[A]) == (
        200,
        {"success": True, "userId": ALICE},
    )
    status, body = await exchange(server, http, token, A, keys[A])  # used
    assert (status, body["code"], body["success"]) == (401, "WEBVIEW_TOKEN_INVALID", False)
    assert isinstance(body["error"], str)  # the SDK shows it as text
    # a token issued for A is refused for B (with B's own, valid key)
    token = await temp_token(server, http, A)
    status, body = await exchange(server, http, token, B, keys[B])
    assert (status, body["code"]) == (401, "WEBVIEW_TOKEN_INVALID")
    # and B cannot claim to be A with its key
    token = await temp_token(server, http, A)
    status, body = await exchange(server, http, token, A, keys[B])
    assert (status, body["code"]) == (401, "INVALID_API_KEY")


async def test_temp_tokens_expire(server, http, keys, monkeypatch):
    token = await temp_token(server, http)
    later = time.time() + webview.TEMP_TOKEN_TTL + 1
    monkeypatch.setattr(time, "time", lambda: later)
    status, body = await exchange(server, http, token, A, keys[A])
    assert (status, body["code"]) == (401, "WEBVIEW_TOKEN_INVALID")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"packageName": A}, "aos_temp_token"),
        ({"aos_temp_token": "x"}, "packageName"),
        ({"aos_temp_token": 5, "packageName": A}, "aos_temp_token"),
    ],
)
async def test_exchange_bad_input(server, http, keys, body, field):
    status, got = await call(
        http,
        "POST",
        f"{http_base(server)}/api/auth/exchange-user-token",
        headers={"Authorization": f"Bearer {keys[A]}"},
        json=body,
    )
    assert (status, got["code"], got["field"]) == (400, "INVALID_FIELD", field)
    assert field in got["error"]


@pytest.mark.parametrize(
    "route",
    ["generate-webview-token", "generate-webview-signed-user-token", "hash-with-api-key"],
)
async def test_phone_routes_bad_input(server, http, keys, route):
    url = f"{http_base(server)}/api/auth/{route}"
    status, body = await call(http, "POST", url, json={"packageName": A})
    assert (status, body["error"]["code"]) == (401, "MISSING_TOKEN")
    status, body = await call(http, "POST", url, headers=phone(server), json={})
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        400,
        "INVALID_FIELD",
        "packageName",
    )
    status, body = await call(
        http, "POST", url, headers=phone(server), json={"packageName": "com.nope"}
    )
    assert (status, body["error"]["code"]) == (404, "PACKAGE_NOT_FOUND")
    status, body = await call(http, "POST", url, headers=phone(server), data="{")
    assert (status, body["error"]["code"]) == (400, "MALFORMED_MESSAGE")


async def test_hash_with_api_key_is_the_sdk_checksum(server, http, keys):
    url = "https://glasscloud.example.org"
    status, body = await call(
        http,
        "POST",
        f"{http_base(server)}/api/auth/hash-with-api-key",
        headers=phone(server),
        json={"packageName": A, "stringToHash": url},
    )
    hashed_key = hashlib.sha256(keys[A].encode()).hexdigest()
    assert status == 200
    assert body["hash"] == hashlib.sha256((url + hashed_key).encode()).hexdigest()
    status, body = await call(
        http,
        "POST",
        f"{http_base(server)}/api/auth/hash-with-api-key",
        headers=phone(server),
        json={"packageName": A},
    )
    assert (status, body["error"]["field"]) == (400, "stringToHash")


async def test_signed_user_token_verifies_with_the_served_public_key(server, http, keys):
    _, body = await call(
        http,
        "POST",
        f"{http_base(server)}/api/auth/generate-webview-signed-user-token",
        headers=phone(server),
        json={"packageName": A},
    )
    token = body["token"]
    _, key = await call(http, "GET", f"{http_base(server)}/api/auth/user-token-public-key")
    assert key["algorithm"] == "RS256" and "BEGIN PUBLIC KEY" in key["publicKey"]
    assert webview.verify_signed_user_token(key["publicKey"], token) == ALICE
    assert webview.verify_signed_user_token(key["publicKey"], token, A) == ALICE
    assert webview.verify_signed_user_token(key["publicKey"], token, B) is None
    # the key pair is kept: the same after a second read, and in the store
    stored = await server.store.get_meta(webview.USER_TOKEN_KEY_META)
    assert webview.public_key_pem(stored) == key["publicKey"]


# ---- public App info -----------------------------------------------------------------------


async def test_public_permissions_instructions_and_version(server, http, keys):
    status, body = await call(http, "GET", f"{http_base(server)}/api/public/permissions/{A}")
    assert status == 200
    assert [p["type"] for p in body["permissions"]] == ["MICROPHONE"]
    status, body = await call(http, "GET", f"{http_base(server)}/api/public/permissions/com.nope")
    assert (status, body["error"]["code"], body["error"]["field"]) == (
        404,
        "PACKAGE_NOT_FOUND",
        "packageName",
    )
    status, body = await call(http, "GET", f"{http_base(server)}/api/sdk/version")
    assert body["data"]["latest"] == "2.1.29"
    status, body = await call(
        http, "GET", f"{http_base(server)}/api/instructions?packageName={A}&userId={ALICE}"
    )
    assert (status, body) == (200, {"success": True, "instructions": None})
    status, body = await call(http, "GET", f"{http_base(server)}/api/instructions?packageName=x")
    assert status == 404


# ---- App communication ---------------------------------------------------------------------


async def test_discover_users_route(server, http, keys):
    url = f"{http_base(server)}/api/app-communication/discover-users"
    auth = {"Authorization": f"Bearer {keys[A]}"}
    status, body = await call(http, "POST", url, headers=auth, json={"packageName": A})
    assert (status, body) == (200, {"users": [], "totalUsers": 0})
    for payload, code, field in (
        ({}, "INVALID_FIELD", "packageName"),
        ({"packageName": A, "userId": 5}, "INVALID_FIELD", "userId"),
        ({"packageName": A, "includeUserProfiles": "yes"}, "INVALID_FIELD", "includeUserProfiles"),
    ):
        status, body = await call(http, "POST", url, headers=auth, json=payload)
        assert (status, body["error"]["code"], body["error"]["field"]) == (400, code, field)
    # B's key naming A, and no key at all
    status, body = await call(
        http, "POST", url, headers={"Authorization": f"Bearer {keys[B]}"}, json={"packageName": A}
    )
    assert (status, body["error"]["code"]) == (401, "INVALID_API_KEY")
    status, body = await call(http, "POST", url, json={"packageName": A})
    assert (status, body["error"]["code"]) == (401, "MISSING_TOKEN")


async def test_app_messages_over_real_sockets_bad_input_and_rate_limit(server, http):
    package = "com.example.chat"
    app = await register_app(server, http, package)
    glasses = []
    for user in (ALICE, BOB):
        glasses.append(await glasses_starting(server, http, package, user))
        await glasses[-1].wait_for("app_state_change", lambda m: m.get("state") == "running")
    alice, bob = app.inboxes[ALICE], app.inboxes[BOB]
    await alice.send({"type": "app_direct_message", "payload": {"x": 1}})
    error = await alice.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", "targetUserId")
    assert "targetUserId" in error["message"]
    hub = server.registry.services.app_comms
    for i in range(hub.burst + 3):
        await alice.send({"type": "app_broadcast_message", "payload": i, "messageId": f"m{i}"})
    limited = await alice.wait_for("tpa_connection_error", lambda m: m["code"] == "RATE_LIMITED")
    assert limited["field"] == "type" and limited["hint"]
    last = await bob.wait_for("app_message_received", lambda m: m["payload"] == hub.burst - 1)
    assert last["senderUserId"] == ALICE
    assert server.metrics.get("app_comms_refused", code="RATE_LIMITED") >= 1
    for one in glasses:
        await one.close()
    await app.stop()


async def test_webview_params_give_the_phone_the_public_url_and_its_checksum(tmp_path, http):
    async with serving(tmp_path, public_url="https://cloud.example.org") as server:
        _, key = await server.store.create_app(A, "Alpha", "http://127.0.0.1:9")
        base = http_base(server)
        status, body = await call(
            http, "GET", f"{base}/api/auth/webview-params?packageName={A}", headers=phone(server)
        )
        assert status == 200
        assert body["cloudApiUrl"] == "https://cloud.example.org"
        hashed = hashlib.sha256(key.encode()).hexdigest()
        expected = hashlib.sha256(("https://cloud.example.org" + hashed).encode()).hexdigest()
        assert body["cloudApiUrlChecksum"] == expected
        status, body = await call(
            http, "GET", f"{base}/api/auth/webview-params?packageName=x", headers=phone(server)
        )
        assert (status, body["error"]["code"]) == (404, "PACKAGE_NOT_FOUND")
        status, body = await call(http, "GET", f"{base}/api/auth/webview-params?packageName={A}")
        assert (status, body["error"]["code"]) == (401, "MISSING_TOKEN")
        # the routes answer on their path whatever scheme a TLS proxy in front received, and
        # under the reference's /auth prefix too
        status, body = await call(
            http,
            "POST",
            f"{base}/auth/generate-webview-token",
            headers={**phone(server), "X-Forwarded-Proto": "https"},
            json={"packageName": A},
        )
        assert status == 200 and body["token"]
