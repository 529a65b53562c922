"""Hostile or broken input over real sockets: deeply nested JSON, oversized fields, bad
values. Each gets a coded error naming the problem, is counted, and hurts nobody."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.protocol.jsonio import MAX_JSON_DEPTH
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import http_base, token_for, ws_base

USER = "hostile@example.com"
DEEP = "[" * 1000 + "]" * 1000  # ~2 KB
DEEP_OBJECT = '{"type":"button_press","x":' + DEEP + "}"


def dev_headers(server) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_developer_token(server.secret, 'dev@example.com')}"}


# ---- 1. JSON depth limit --------------------------------------------------------------


async def test_deep_json_on_glasses_ws_is_a_coded_error_and_the_socket_stays(server, http, caplog):
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    with caplog.at_level(logging.ERROR):
        for frame in (DEEP, DEEP_OBJECT):
            await glasses.send(frame)
            error = await glasses.wait_for("connection_error")
            assert error["code"] == "MALFORMED_MESSAGE"
            assert f"more than {MAX_JSON_DEPTH} levels" in error["message"]
    await glasses.send({"type": "request_settings"})
    await glasses.wait_for("settings_update")
    assert server.metrics.get("glasses_errors", code="MALFORMED_MESSAGE") == 2
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await glasses.close()


async def test_deep_json_as_first_app_frame_is_refused_with_a_code(server, http):
    ws = await http.ws_connect(f"{ws_base(server)}/app-ws")
    inbox = FrameInbox(ws, "deep-app")
    await inbox.send(DEEP)
    error = await inbox.wait_for("tpa_connection_error")
    assert error["code"] == "MALFORMED_MESSAGE"
    assert "levels deep" in error["message"]
    assert await inbox.wait_closed() == 1008  # a refused init, not a 1006 crash
    assert server.metrics.get("app_auth_failures", code="MALFORMED_MESSAGE") == 1


async def test_deep_json_after_app_auth_keeps_the_app(server, http):
    app = await register_app(server, http)
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    inbox = app.inboxes[USER]
    await inbox.send(DEEP)
    error = await inbox.wait_for("tpa_connection_error")
    assert error["code"] == "MALFORMED_MESSAGE"
    await inbox.send({"type": "display_event", "layout": {"layoutType": "text_wall", "text": "x"}})
    await glasses.wait_for("display_event", lambda m: m["layout"].get("text") == "x")
    assert not inbox.ws.closed
    await glasses.close()
    await app.stop()


@pytest.mark.parametrize("path", ["/api/app-server/register", "/api/dev/apps"])
async def test_deep_json_body_is_a_400_naming_the_problem(server, http, path, caplog):
    with caplog.at_level(logging.ERROR):
        async with http.post(
            http_base(server) + path, data=DEEP, headers=dev_headers(server)
        ) as response:
            assert response.status == 400
            body = await response.json()
    text = str(body)
    assert "MALFORMED_MESSAGE" in text and "levels deep" in text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert server.metrics.get("http_errors", code="MALFORMED_MESSAGE") == 1


# ---- 4. token kinds ---------------------------------------------------------------------


async def test_a_developer_token_is_not_a_core_token(server, http):
    dev = dev_headers(server)
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await http.ws_connect(ws_base(server) + "/glasses-ws", headers=dev)
    assert info.value.status == 401
    async with http.get(http_base(server) + "/apps", headers=dev) as response:
        assert response.status == 401
        body = await response.json()
    assert body["success"] is False and body["error"]["code"] == "INVALID_TOKEN"
    assert "developer token" in body["error"]["message"]
    ws = await http.ws_connect(ws_base(server) + "/glasses-ws")
    headerless = FrameInbox(ws, "headerless")
    await headerless.send({"type": "connection_init", "coreToken": dev["Authorization"][7:]})
    error = await headerless.wait_for("connection_error")
    assert (error["code"], error["field"]) == ("INVALID_TOKEN", "coreToken")
    assert await headerless.wait_closed() == 1008
    assert headerless.of_type("connection_ack") == []


# ---- 5. small input bugs ------------------------------------------------------------------


async def test_a_huge_url_is_one_info_line_and_counted(server, http, caplog):
    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        async with http.get(http_base(server) + "/" + "a" * 20_000) as response:
            assert response.status == 400
        async with http.get(http_base(server) + "/health") as response:
            assert response.status == 200
    lines = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert "LineTooLong" in lines[0].getMessage() and lines[0].exc_info is None
    assert server.metrics.get("http_bad_requests", reason="LineTooLong") == 1


async def test_a_huge_package_name_is_not_registered(server, http):
    body = {"packageName": "a" * 100_000, "name": "Big", "publicUrl": "http://127.0.0.1:1"}
    async with http.post(
        http_base(server) + "/api/dev/apps", json=body, headers=dev_headers(server)
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("INVALID_FIELD", "packageName")
    assert "limit is 128" in error["message"] and len(error["message"]) < 300
    assert await server.store.list_apps() == []


async def test_bad_display_values_are_refused_and_the_app_stays(server, http):
    app = await register_app(server, http)
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    inbox = app.inboxes[USER]
    text = {"layoutType": "text_wall", "text": "x"}
    await inbox.send({"type": "display_event", "layout": text, "durationMs": 1e308})
    error = await inbox.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", "durationMs")
    bitmap = {"layoutType": "bitmap_view", "data": "not base64 at all!"}
    await inbox.send({"type": "display_event", "layout": bitmap})
    error = await inbox.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", "layout.data")
    assert not inbox.ws.closed
    await glasses.close()
    await app.stop()
