"""App settings and AI tools with the real `@mentra/sdk` App: the phone changes a setting over
REST with the user's core token (as the reference phone does) and the App's
`session.settings.onValueChange` fires for that user only; the SDK's own
`session.settings.fetch()` reads them; an AI tool call reaches the App's
`AppServer.onToolCall` with the user's live session and its answer comes back."""

from __future__ import annotations

import asyncio

from glasscloud.server import tools_api
from tests.conformance.test_sdk_app import PACKAGE, USER, start_through_glasses
from tests.support.clients import connect_glasses
from tests.support.servers import http_base, token_for, ws_base

OTHER = "second-reader@example.com"

SCHEMA = [
    {
        "key": "captionSize",
        "label": "Caption size",
        "type": "slider",
        "min": 1,
        "max": 5,
        "defaultValue": 3,
    },
    {
        "key": "language",
        "label": "Language",
        "type": "select",
        "defaultValue": "en",
        "options": [{"label": "English", "value": "en"}, {"label": "French", "value": "fr"}],
    },
]
TOOLS = [
    {
        "id": "add_note",
        "description": "Add a note",
        "parameters": {"text": {"type": "string", "description": "the note", "required": True}},
    },
    {"id": "fail", "description": "always fails"},
    {"id": "slow", "description": "answers late"},
]


def values(settings: list[dict]) -> dict:
    return {s["key"]: s.get("value") for s in settings if "key" in s}


async def test_phone_changes_a_setting_and_only_that_users_app_hears_it(server, http, make_sdk_app):
    app = await make_sdk_app({"SETTINGS_WATCH": "captionSize,language", "SETTINGS_FETCH": "1"})
    await server.store.update_app(PACKAGE, settings_schema=SCHEMA)
    glasses = await start_through_glasses(server, http)
    first = await app.wait_for("settings", lambda e: e["sessionId"] == f"{USER}-{PACKAGE}")
    assert values(first["settings"]) == {"captionSize": 3, "language": "en"}
    fetched = await app.wait_for("settings_fetched", timeout=10)
    assert values(fetched["settings"]) == {"captionSize": 3, "language": "en"}
    assert not app.events_named("settings_fetch_failed")

    # a second user runs the same App server
    other = await connect_glasses(http, ws_base(server), token_for(server, OTHER))
    await other.wait_for("connection_ack")
    await other.send({"type": "start_app", "packageName": PACKAGE})
    await other.wait_for("app_state_change", lambda m: m.get("state") == "running", timeout=15)
    await app.wait_for("settings", lambda e: e["sessionId"] == f"{OTHER}-{PACKAGE}")

    url = f"{http_base(server)}/appsettings/{PACKAGE}"
    phone = {"Authorization": f"Bearer {token_for(server, USER)}"}
    async with http.post(url, json={"key": "captionSize", "value": 4}, headers=phone) as resp:
        assert resp.status == 200
        assert await resp.json() == {"success": True, "message": "Settings updated successfully"}
    change = await app.wait_for("setting_change", timeout=10)
    assert change["key"] == "captionSize"
    assert (change["newValue"], change["oldValue"]) == (4, 3)
    assert change["userId"] == USER and change["sessionId"] == f"{USER}-{PACKAGE}"

    # out of range: refused, naming the setting; nothing stored, the App hears nothing
    async with http.post(url, json={"key": "captionSize", "value": 9}, headers=phone) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["success"] is False
    assert body["error"]["code"] == "INVALID_SETTING"
    assert body["error"]["field"] == "captionSize"

    # a list (the legacy route): both change, for this user only
    legacy = f"{http_base(server)}/tpasettings/{PACKAGE}"
    batch = [{"key": "language", "value": "fr"}, {"key": "captionSize", "value": 2}]
    async with http.post(legacy, json=batch, headers=phone) as resp:
        assert resp.status == 200
    await app.wait_for("setting_change", lambda e: e["key"] == "language", timeout=10)
    await app.wait_for(
        "setting_change", lambda e: e["key"] == "captionSize" and e["newValue"] == 2, timeout=10
    )
    await asyncio.sleep(0.5)  # the /settings POST of the last change has arrived too
    changes = app.events_named("setting_change")
    # once each, although the App hears of each change twice (socket and /settings); within
    # one update the SDK reports keys in the order of the App's settings list
    assert [(c["key"], c["newValue"]) for c in changes] == [
        ("captionSize", 4),
        ("captionSize", 2),
        ("language", "fr"),
    ]
    assert {c["userId"] for c in changes} == {USER}
    # the App server's /settings route was called too (the SDK logs it)
    assert any(f"Received settings update for user {USER}" in line for line in app.output)

    async with http.get(url, headers=phone) as resp:
        assert resp.status == 200
        shown = await resp.json()
    assert {s["key"]: s["selected"] for s in shown["settings"]} == {
        "captionSize": 2,
        "language": "fr",
    }
    # the other user's settings are untouched
    other_phone = {"Authorization": f"Bearer {token_for(server, OTHER)}"}
    async with http.get(url, headers=other_phone) as resp:
        shown = await resp.json()
    assert {s["key"]: s["selected"] for s in shown["settings"]} == {
        "captionSize": 3,
        "language": "en",
    }
    await glasses.close()
    await other.close()


async def test_ai_tool_call_reaches_on_tool_call_with_the_live_session(
    server, http, make_sdk_app, monkeypatch
):
    monkeypatch.setattr(tools_api, "TOOL_CALL_TIMEOUT", 1.0)
    app = await make_sdk_app({"TOOL_ECHO": "1", "TOOL_SLOW_MS": "3000"})
    await server.store.update_app(PACKAGE, tools=TOOLS)
    glasses = await start_through_glasses(server, http)
    await app.wait_for("session")
    auth = {"Authorization": f"Bearer {token_for(server, USER)}"}
    base = f"{http_base(server)}/api/tools"

    async with http.get(f"{base}/apps/{PACKAGE}/tools", headers=auth) as resp:
        assert [t["id"] for t in await resp.json()] == ["add_note", "fail", "slow"]
    async with http.get(f"{base}/users/{USER}/tools", headers=auth) as resp:
        listed = await resp.json()
    assert {t["appPackageName"] for t in listed} == {PACKAGE}

    call = {
        "toolId": "add_note",
        "toolParameters": {"text": "buy milk"},
        "userId": USER,
        "timestamp": "2026-12-01T21:00:00.000Z",
    }
    async with http.post(f"{base}/apps/{PACKAGE}/tool", json=call, headers=auth) as resp:
        assert resp.status == 200
        assert await resp.json() == {
            "status": "success",
            "reply": 'echo add_note {"text":"buy milk"}',
        }
    seen = await app.wait_for("tool_call")
    assert seen["userId"] == USER and seen["hasSession"] is True
    assert seen["toolParameters"] == {"text": "buy milk"}

    async with http.post(
        f"{base}/apps/{PACKAGE}/tool", json={**call, "toolId": "fail"}, headers=auth
    ) as resp:
        assert resp.status == 502
        body = await resp.json()
    assert body["error"]["code"] == "TOOL_FAILED"
    assert "failed on purpose" in body["error"]["message"]

    async with http.post(
        f"{base}/apps/{PACKAGE}/tool", json={**call, "toolId": "slow"}, headers=auth
    ) as resp:
        assert resp.status == 504
        assert (await resp.json())["error"]["code"] == "TOOL_TIMEOUT"
    await glasses.close()
