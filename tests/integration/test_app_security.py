"""App authentication at the handshake, coded errors over real sockets, and attempts to
act as someone else. Every error code an App can meet is reached here at least once."""

from __future__ import annotations

import aiohttp
import pytest

from glasscloud.auth.app_tokens import issue_app_token, issue_developer_token
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.scenarios import register_app, running_app
from tests.support.servers import http_base, make_config, token_for, ws_base

USER = "jean-luc@example.com"


async def upgrade(http, server, headers=None, query=""):
    """Try the header-authenticated upgrade; returns (status, body) of a refusal, or the
    open socket."""
    try:
        ws = await http.ws_connect(f"{ws_base(server)}/app-ws{query}", headers=headers or {})
    except aiohttp.WSServerHandshakeError as error:
        return error.status, None
    return 101, ws


async def rotate_through_api(http, server, package):
    """`POST /api/dev/apps/{package}/api-key`, as a developer does: this process writes the
    new key and drops its cached App record at once."""
    dev = {"Authorization": f"Bearer {issue_developer_token(server.secret, 'dev@example.com')}"}
    async with http.post(f"{http_base(server)}/api/dev/apps/{package}/api-key", headers=dev) as r:
        assert r.status == 200
        return (await r.json())["apiKey"]


async def refusal_body(http, server, headers):
    """The JSON body of a refused upgrade (ws_connect hides it, so ask with a plain GET)."""
    async with http.get(
        f"{http_base(server)}/app-ws",
        headers={
            **headers,
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as response:
        return response.status, await response.json()


# ---- handshake authentication ---------------------------------------------------------


async def test_app_token_at_the_upgrade_gets_an_ack_without_init(server, http):
    app = await register_app(server, http)
    app.connect = False
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": app.package})
    hook = await app.wait_webhook("session_request")
    record = await server.store.get_app(app.package)
    token = issue_app_token(server.secret, app.package, record.key_version)
    status, ws = await upgrade(
        http, server, {"Authorization": f"Bearer {token}", "X-Session-Id": hook["sessionId"]}
    )
    assert status == 101
    inbox = FrameInbox(ws, "header-app")
    ack = await inbox.wait_for("tpa_connection_ack")
    assert ack["sessionId"] == hook["sessionId"]
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    await inbox.send(app.subscription_message(["button_press"]))
    await glasses.send({"type": "button_press", "buttonId": "x", "pressType": "short"})
    await inbox.wait_for("data_stream")
    await inbox.close()
    await glasses.close()
    await app.stop()


async def test_handshake_refusals_have_status_code_message_and_hint(server, http):
    app = await register_app(server, http)
    app.connect = False
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    session_id = f"{USER}-{app.package}"
    record = await server.store.get_app(app.package)
    good = issue_app_token(server.secret, app.package, record.key_version)
    foreign = issue_app_token("another-server-secret-000000000000000", app.package, 1)
    unknown = issue_app_token(server.secret, "com.nobody", 1)
    other_app = await register_app(server, http, "com.example.other")
    cases = [
        ({"Authorization": "Bearer nonsense"}, 401, "INVALID_JWT"),
        (
            {"Authorization": f"Bearer {foreign}", "X-Session-Id": session_id},
            401,
            "JWT_SIGNATURE_FAILED",
        ),
        (
            {"Authorization": f"Bearer {token_for(server, USER)}", "X-Session-Id": session_id},
            401,
            "INVALID_JWT",
        ),  # a user's core token is not an App token
        ({"Authorization": f"Bearer {good}"}, 400, "MISSING_SESSION_ID"),
        (
            {"Authorization": f"Bearer {unknown}", "X-Session-Id": f"{USER}-com.nobody"},
            404,
            "PACKAGE_NOT_FOUND",
        ),
        (
            {"Authorization": f"Bearer {good}", "X-Session-Id": f"{USER}-{other_app.package}"},
            403,
            "PACKAGE_MISMATCH",
        ),
        (
            {"Authorization": f"Bearer {good}", "X-Session-Id": f"gone@example.com-{app.package}"},
            410,
            "SESSION_NOT_FOUND",
        ),
        ({"Authorization": f"Bearer {good}", "X-Session-Id": session_id}, 410, "APP_NOT_STARTED"),
    ]
    for headers, status, code in cases:
        got_status, body = await refusal_body(http, server, headers)
        assert (got_status, body["error"]["code"]) == (status, code), headers
        assert body["error"]["message"]
        assert body["error"]["hint"]
    # rotating the key revokes tokens issued before
    await glasses.send({"type": "start_app", "packageName": app.package})
    await app.wait_webhook("session_request")
    await rotate_through_api(http, server, app.package)
    got_status, body = await refusal_body(
        http, server, {"Authorization": f"Bearer {good}", "X-Session-Id": session_id}
    )
    assert (got_status, body["error"]["code"]) == (403, "TOKEN_REVOKED")
    await glasses.close()
    await app.stop()
    await other_app.stop()


async def test_rotated_api_key_is_refused_in_init(server, http):
    """Rotated through this process's API: the very next connection with the old key is
    refused, although the App's record was just read (and cached) by the running App."""
    app, glasses = await running_app(server, http, user=USER)
    old_key = app.api_key
    await rotate_through_api(http, server, app.package)
    again = await app.open_socket(
        f"{ws_base(server)}/app-ws", f"{USER}-{app.package}", api_key=old_key
    )
    error = await again.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_API_KEY", "apiKey")
    assert error["hint"]
    assert await again.wait_closed() == 1008
    await glasses.close()
    await app.stop()


async def test_init_timeout_and_wrong_first_message(tmp_path, http):
    from glasscloud.core.timings import Timings

    server = await start_server(make_config(tmp_path, timings=Timings(auth_timeout=0.3)))
    try:
        ws = await http.ws_connect(f"{ws_base(server)}/app-ws")
        silent = FrameInbox(ws, "silent")
        error = await silent.wait_for("tpa_connection_error")
        assert error["code"] == "AUTH_TIMEOUT"
        assert await silent.wait_closed() == 1008
        ws = await http.ws_connect(f"{ws_base(server)}/app-ws")
        wrong = FrameInbox(ws, "wrong")
        await wrong.send({"type": "subscription_update", "subscriptions": []})
        error = await wrong.wait_for("tpa_connection_error")
        assert (error["code"], error["field"]) == ("MALFORMED_MESSAGE", "type")
        ws = await http.ws_connect(f"{ws_base(server)}/app-ws")
        binary = FrameInbox(ws, "binary")
        await ws.send_bytes(b"\x00")
        assert (await binary.wait_for("tpa_connection_error"))["code"] == "MALFORMED_MESSAGE"
    finally:
        await stop_server(server)


async def test_unreadable_app_record_fails_closed(tmp_path, http):
    server = await start_server(make_config(tmp_path))
    app, glasses = await running_app(server, http, user=USER)
    await server.store.close()  # the database goes away: pool closed, files gone
    server.app_records.invalidate()  # and the record is not in the cache (at most 2 s)
    for path in tmp_path.glob("glasscloud.db*"):
        path.rename(path.with_name("moved-" + path.name))
    try:
        again = await app.open_socket(f"{ws_base(server)}/app-ws", f"{USER}-{app.package}")
        error = await again.wait_for("tpa_connection_error")
        assert error["code"] == "INTERNAL_ERROR"
        assert await again.wait_closed() == 1008
    finally:
        await glasses.close()
        await app.stop()
        await server.stop()


# ---- errors after authentication --------------------------------------------------------


async def test_every_rejected_app_message_gets_a_coded_error_and_the_socket_stays(server, http):
    app, glasses = await running_app(server, http, user=USER, permissions=())
    inbox = app.inboxes[USER]
    frames = [
        ("{not json", "MALFORMED_MESSAGE", None),
        ({"type": "no_such_thing"}, "UNKNOWN_MESSAGE_TYPE", "type"),
        (
            {"type": "display_event", "layout": {"layoutType": "text_wall"}},
            "INVALID_FIELD",
            "layout.text",
        ),
        (
            {"type": "subscription_update", "subscriptions": ["foo"]},
            "INVALID_SUBSCRIPTION",
            "subscriptions[0]",
        ),
        ({"type": "photo_request", "requestId": "p"}, "PERMISSION_DENIED", "type"),
        (
            {
                "type": "display_event",
                "packageName": "system.augmentos.dashboard",
                "layout": {"layoutType": "text_wall", "text": "x"},
            },
            "PACKAGE_MISMATCH",
            "packageName",
        ),
    ]
    for frame, code, field in frames:
        await inbox.send(frame)
        error = await inbox.wait_for("tpa_connection_error")
        assert (error["code"], error.get("field")) == (code, field), frame
        assert error["message"] and error["hint"]
    await inbox.ws.send_bytes(b"binary from an app")
    assert (await inbox.wait_for("tpa_connection_error"))["code"] == "BINARY_NOT_ALLOWED"
    await inbox.send(app.subscription_message(["audio_chunk", "button_press"]))
    denied = await inbox.wait_for("permission_error")
    assert denied["details"] == [
        {
            "stream": "audio_chunk",
            "requiredPermission": "MICROPHONE",
            "message": denied["details"][0]["message"],
        }
    ]
    await glasses.send({"type": "button_press", "buttonId": "still-here", "pressType": "short"})
    delivered = await inbox.wait_for("data_stream")
    assert delivered["data"]["buttonId"] == "still-here"
    assert inbox.close_code is None
    await glasses.close()
    await app.stop()


async def test_messages_while_stopping_are_ignored_without_an_error(server, http):
    """Real Apps clean up in onStop (unsubscribe, a last display) while the stop webhook is
    answered: nothing of it reaches the glasses, and the App gets no error frame for it."""
    app, glasses = await running_app(server, http, user=USER)
    inbox = app.inboxes.pop(USER)
    app.stop_delay = 0.5  # the App server is slow to answer the stop webhook
    await glasses.send({"type": "stop_app", "packageName": app.package})
    await app.wait_webhook("stop_request")
    await inbox.send(app.subscription_message([]))
    await inbox.send(
        {"type": "display_event", "layout": {"layoutType": "text_wall", "text": "too late"}}
    )
    await inbox.wait_for("app_stopped")
    assert inbox.of_type("tpa_connection_error") == []
    assert not [m for m in glasses.messages if "too late" in str(m)]
    await glasses.close()
    await app.stop()


# ---- nobody acts as someone else --------------------------------------------------------


async def test_an_app_cannot_join_another_users_session_it_was_not_started_for(server, http):
    app, alice = await running_app(server, http, user="alice@example.com")
    bob = await connect_glasses(http, ws_base(server), token_for(server, "bob@example.com"))
    await bob.wait_for("connection_ack")
    spy = await app.open_socket(f"{ws_base(server)}/app-ws", f"bob@example.com-{app.package}")
    error = await spy.wait_for("tpa_connection_error")
    assert error["code"] == "APP_NOT_STARTED"
    await bob.send({"type": "button_press", "buttonId": "bob-secret", "pressType": "short"})
    await spy.wait_closed()
    assert not [m for m in spy.messages if "bob-secret" in str(m)]
    await alice.close()
    await bob.close()
    await app.stop()


async def test_wildcard_does_not_bypass_permissions_over_sockets(server, http):
    app, glasses = await running_app(server, http, user=USER, permissions=())
    inbox = app.inboxes[USER]
    await inbox.send(app.subscription_message(["*"]))
    await glasses.wait_for(
        "app_state_change", lambda m: m["userSession"]["appSubscriptions"].get(app.package) == ["*"]
    )
    await glasses.ws.send_bytes(b"\x01\x02" * 800)
    await glasses.send({"type": "local_transcription", "text": "private words", "isFinal": True})
    await glasses.send({"type": "location_update", "lat": 1.0, "lng": 2.0})
    await glasses.send({"type": "button_press", "buttonId": "public", "pressType": "short"})
    button = await inbox.wait_for("data_stream")
    assert button["streamType"] == "button_press"
    assert inbox.binaries == []
    assert not [m for m in inbox.of_type("data_stream") if m["streamType"] != "button_press"]
    await glasses.close()
    await app.stop()


# ---- limits -----------------------------------------------------------------------------


async def test_rate_size_and_connection_limits(tmp_path, http):
    server = await start_server(
        make_config(
            tmp_path,
            connection_rate=5.0,
            connection_burst=5.0,
            max_message_bytes=2048,
            max_connections_per_user=1,
        )
    )
    try:
        glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "button_press", "text": "x" * 3000})
        too_big = await glasses.wait_for("connection_error")
        assert too_big["code"] == "MESSAGE_TOO_LARGE"
        for _ in range(20):
            await glasses.send({"type": "request_settings"})
        limited = await glasses.wait_for("connection_error", lambda m: m["code"] == "RATE_LIMITED")
        assert limited["message"]
        assert server.metrics.get("inbound_refused", side="glasses", limit="rate") > 0
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await connect_glasses(http, ws_base(server), token_for(server, USER), "2nd")
        assert info.value.status == 429
        assert glasses.close_code is None  # the refused one did not replace the live one
        other = await connect_glasses(http, ws_base(server), token_for(server, "x@example.com"))
        await other.wait_for("connection_ack")  # other users are not affected
        await glasses.close()
        await other.close()
    finally:
        await stop_server(server)


# ---- developer API ----------------------------------------------------------------------


async def test_developer_api_registers_rotates_and_issues_tokens(server, http):
    base = http_base(server)
    dev = {"Authorization": f"Bearer {issue_developer_token(server.secret, 'dev@example.com')}"}
    body = {
        "packageName": "com.example.devapi",
        "name": "Dev API",
        "publicUrl": "http://127.0.0.1:9",
        "permissions": [{"type": "MICROPHONE"}],
        "appType": "standard",
    }
    async with http.post(f"{base}/api/dev/apps", json=body) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "MISSING_TOKEN"
    async with http.post(
        f"{base}/api/dev/apps",
        json=body,
        headers={"Authorization": f"Bearer {token_for(server, USER)}"},
    ) as r:
        assert r.status == 401  # a user's core token is not a developer credential
    async with http.post(f"{base}/api/dev/apps", json=body, headers=dev) as response:
        assert response.status == 201
        created = await response.json()
    assert len(created["apiKey"]) == 64
    assert "hash" not in str(created["app"]).lower()
    async with http.post(f"{base}/api/dev/apps", json=body, headers=dev) as response:
        assert response.status == 409
    async with http.post(
        f"{base}/api/dev/apps", json={**body, "packageName": "bad name!"}, headers=dev
    ) as response:
        assert response.status == 400
        assert "package" in (await response.json())["error"]["message"].lower()
    async with http.get(f"{base}/api/dev/apps/com.example.devapi/token", headers=dev) as r:
        token = (await r.json())["token"]
    async with http.post(f"{base}/api/dev/apps/com.example.devapi/api-key", headers=dev) as r:
        rotated = await r.json()
    assert rotated["apiKey"] != created["apiKey"] and rotated["keyVersion"] == 2
    status, refused = await refusal_body(
        http,
        server,
        {"Authorization": f"Bearer {token}", "X-Session-Id": f"{USER}-com.example.devapi"},
    )
    assert (status, refused["error"]["code"]) == (403, "TOKEN_REVOKED")
    async with http.post(f"{base}/api/dev/apps/com.nobody/api-key", headers=dev) as r:
        assert r.status == 404
    async with http.get(f"{base}/api/admin/metrics", headers=dev) as r:
        counters = (await r.json())["counters"]
    assert any(c["name"] == "app_auth_failures" for c in counters)
    async with http.get(f"{base}/metrics") as r:
        assert r.status == 401
    async with http.get(f"{base}/api/dev/apps", headers=dev) as r:
        listed = await r.json()
    assert "hash" not in str(listed).lower()
