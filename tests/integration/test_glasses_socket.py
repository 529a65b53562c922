"""The glasses connection over real sockets: auth, ack, reconnect within grace, dispose."""

from __future__ import annotations

import aiohttp
import pytest

from tests.support.clients import FrameInbox, connect_glasses
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import http_base, token_for, ws_base

USER = "mary-jane@example.com"


async def test_header_auth_gets_exactly_one_ack_at_once(server, http):
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    ack = await glasses.wait_for("connection_ack")
    assert ack["sessionId"] == USER
    assert ack["userSession"]["userId"] == USER
    await glasses.send({"type": "connection_init", "coreToken": token_for(server, USER)})
    await glasses.send({"type": "request_settings", "sessionId": USER})
    settings = await glasses.wait_for("settings_update")
    assert settings["settings"]["brightness"] == 50
    assert len(glasses.of_type("connection_ack")) == 1
    await glasses.close()


@pytest.mark.parametrize(
    ("header", "code"),
    [("Bearer not-a-jwt", "INVALID_TOKEN"), ("Basic abc", "MISSING_TOKEN")],
)
async def test_bad_token_is_refused_before_upgrade(server, http, header, code):
    async with http.get(
        http_base(server) + "/glasses-ws",
        headers={
            "Authorization": header,
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    ) as response:
        assert response.status == 401
        body = await response.json()
    assert body["type"] == "connection_error"
    assert body["code"] == code
    assert body["message"]
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(ws_base(server) + "/glasses-ws", headers={"Authorization": header})
    assert info.value.status == 401


async def test_token_signed_with_another_secret_is_refused(server, http):
    from glasscloud.auth.tokens import issue_core_token

    forged = issue_core_token("some-other-secret-of-enough-length-000", USER)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await connect_glasses(http, ws_base(server), forged)
    assert info.value.status == 401


async def test_token_in_connection_init_for_clients_without_headers(server, http):
    ws = await http.ws_connect(ws_base(server) + "/glasses-ws")
    glasses = FrameInbox(ws, "headerless")
    await glasses.send({"type": "connection_init", "coreToken": token_for(server, USER)})
    ack = await glasses.wait_for("connection_ack")
    assert ack["sessionId"] == USER
    await glasses.close()


async def test_headerless_client_without_token_is_told_and_closed(server, http):
    ws = await http.ws_connect(ws_base(server) + "/glasses-ws")
    glasses = FrameInbox(ws, "headerless")
    await glasses.send({"type": "connection_init"})
    error = await glasses.wait_for("connection_error")
    assert error["code"] == "MISSING_TOKEN"
    assert await glasses.wait_closed() == 1008
    assert glasses.of_type("connection_ack") == []


async def test_malformed_frames_get_coded_errors_and_the_session_survives(server, http):
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send("{oops")
    await glasses.send({"type": "start_app"})
    await glasses.send({"type": "start_app", "packageName": "com.nobody"})
    first = await glasses.wait_for("connection_error")
    second = await glasses.wait_for("connection_error")
    third = await glasses.wait_for("connection_error")
    assert first["code"] == "MALFORMED_MESSAGE"
    assert (second["code"], second["field"]) == ("INVALID_FIELD", "packageName")
    assert (third["code"], third["field"]) == ("PACKAGE_NOT_FOUND", "packageName")
    await glasses.send({"type": "request_settings"})
    await glasses.wait_for("settings_update")
    assert server.metrics.get("glasses_errors", code="MALFORMED_MESSAGE") == 1


async def test_reconnect_within_grace_resumes_the_session(server, http):
    app = await register_app(server, http)
    token = token_for(server, USER)
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    await glasses.close()
    again = await connect_glasses(http, ws_base(server), token, "again")
    ack = await again.wait_for("connection_ack")
    assert ack["userSession"]["activeAppSessions"] == [app.package]
    assert len(app.webhooks) == 1  # the App was not restarted
    app_inbox = app.inboxes[USER]
    assert app_inbox.close_code is None
    await again.close()
    await app.stop()


async def test_session_ends_after_grace_and_apps_are_told(server, http):
    app = await register_app(server, http)
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": app.package})
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    await glasses.close()
    app_inbox = app.inboxes[USER]
    assert await app_inbox.wait_closed(timeout=5) == 1000
    assert app_inbox.of_type("app_stopped")
    assert server.registry.get(USER) is None
    # the next connection is a new session that brings the App back
    again = await connect_glasses(http, ws_base(server), token_for(server, USER), "again")
    await again.wait_for("connection_ack")
    await again.wait_for("app_state_change", lambda m: m.get("state") == "running")
    assert len(app.webhooks) == 2
    await again.close()
    await app.stop()


async def test_health(server, http):
    async with http.get(http_base(server) + "/health") as response:
        assert response.status == 200
        body = await response.json()
    assert body["status"] == "ok"
    assert body["sessions"] == 0
