"""Hostile or broken input over real sockets: deeply nested JSON, oversized fields, bad
values. Each gets a coded error naming the problem, is counted, and hurts nobody."""

from __future__ import annotations

import logging

import pytest

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.protocol.jsonio import MAX_JSON_DEPTH
from tests.conftest import glasses_starting, http_base, register_app, token_for, ws_base
from tests.support.clients import FrameInbox, connect_glasses

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
