"""The settings, tools and App-management routes on a real server over loopback: what each
delivers, and every bad input refused with a code and a sentence naming the field, nothing
stored."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.server import tools_api
from tests.support.clients import PyApp
from tests.support.loopback import serve_on_loopback
from tests.support.scenarios import glasses_starting
from tests.support.servers import http_base, token_for

USER = "reader@example.com"
OTHER = "someone-else@example.com"
PACKAGE = "com.example.notes"

SCHEMA = (
    {"key": "big", "label": "Big text", "type": "toggle", "defaultValue": False},
    {"key": "name", "label": "Name", "type": "text", "defaultValue": ""},
    {
        "key": "lang",
        "label": "Language",
        "type": "select",
        "defaultValue": "en",
        "options": [{"label": "English", "value": "en"}, {"label": "German", "value": "de"}],
    },
    {
        "key": "topics",
        "label": "Topics",
        "type": "multiselect",
        "defaultValue": [],
        "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
    },
    {"key": "size", "label": "Size", "type": "slider", "min": 1, "max": 5, "defaultValue": 3},
    {"key": "section", "label": "Section", "type": "group", "title": "More"},
)
TOOLS = (
    {
        "id": "add_note",
        "description": "Add a note",
        "parameters": {
            "text": {"type": "string", "description": "note", "required": True},
            "mood": {"type": "string", "description": "m", "enum": ["calm", "busy"]},
        },
    },
    {"id": "junk", "description": "answers something that is not JSON"},
    {"id": "huge", "description": "answers too much"},
    {"id": "flood", "description": "answers too much, chunked"},
)


class ToolApp(PyApp):
    """The wire-level test App, also answering `/settings` and `/tool` as the SDK does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.settings_posts: list[dict] = []
        self.settings_delay = 0.0
        self.tool_calls: list[dict] = []

    async def start(self) -> ToolApp:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        app.router.add_post("/settings", self._settings)
        app.router.add_post("/tool", self._tool)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def _settings(self, request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(self.settings_delay)
        self.settings_posts.append(body)
        return web.json_response({"status": "success"})

    async def _tool(self, request: web.Request) -> web.Response:
        call = await request.json()
        self.tool_calls.append(call)
        if call["toolId"] == "junk":
            return web.Response(text="<html>oops</html>")
        if call["toolId"] == "huge":
            return web.json_response({"status": "success", "reply": "x" * 300_000})
        if call["toolId"] == "flood":  # chunked, no Content-Length: cut off while reading
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(100):
                await response.write(b"x" * 8192)
            await response.write_eof()
            return response
        return web.json_response({"status": "success", "reply": f"noted {call['toolParameters']}"})


@pytest.fixture
async def notes(server, http):
    app = ToolApp(http, PACKAGE, "")
    await app.start()
    _, app.api_key = await server.store.create_app(
        PACKAGE,
        "Notes",
        app.public_url,
        app_type="standard",
        settings_schema=SCHEMA,
        tools=TOOLS,
    )
    yield app
    await app.stop()


def phone(server, user: str = USER) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(server, user)}"}


def developer(server) -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_developer_token(server.secret, "dev@example.com")}


# ---- settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "field", "words"),
    [
        ({}, "INVALID_FIELD", "key", "key"),
        ([], "INVALID_FIELD", "key", "empty"),
        ({"key": "", "value": 1}, "INVALID_FIELD", "key", "key"),
        ({"key": "nope", "value": 1}, "INVALID_SETTING", "nope", "no setting 'nope'"),
        ({"key": "section", "value": 1}, "INVALID_SETTING", "section", "section"),
        ({"key": "big", "value": "yes"}, "INVALID_SETTING", "big", "true or false"),
        ({"key": "name", "value": 5}, "INVALID_SETTING", "name", "string"),
        ({"key": "name", "value": "x" * 10_001}, "INVALID_SETTING", "name", "longer"),
        ({"key": "lang", "value": "fr"}, "INVALID_SETTING", "lang", "one of"),
        ({"key": "topics", "value": "a"}, "INVALID_SETTING", "topics", "list"),
        ({"key": "topics", "value": ["a", "z"]}, "INVALID_SETTING", "topics", "one of"),
        ({"key": "size", "value": 9}, "INVALID_SETTING", "size", "within 1..5"),
        ({"key": "size", "value": True}, "INVALID_SETTING", "size", "number"),
        # one bad entry refuses the whole list: the good first one is not stored either
        (
            [{"key": "big", "value": True}, {"key": "size", "value": 0}],
            "INVALID_SETTING",
            "size",
            "within",
        ),
        ([{"key": "big", "value": True}, "junk"], "INVALID_FIELD", "[1]key", "key"),
    ],
)
async def test_bad_setting_changes_are_refused_and_nothing_is_stored(
    server, http, notes, body, code, field, words
):
    url = f"{http_base(server)}/appsettings/{PACKAGE}"
    async with http.post(url, json=body, headers=phone(server)) as resp:
        assert resp.status == 400
        answer = await resp.json()
    assert answer["success"] is False
    assert answer["error"]["code"] == code
    assert answer["error"]["field"] == field
    assert words in answer["error"]["message"]
    assert await server.store.get_app_settings(USER, PACKAGE) == {}


async def test_settings_route_refusals_before_the_body(server, http, notes):
    base = http_base(server)
    async with http.post(f"{base}/appsettings/{PACKAGE}", json={"key": "big", "value": True}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "MISSING_TOKEN"
    async with http.get(f"{base}/appsettings/com.example.none", headers=phone(server)) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "PACKAGE_NOT_FOUND"
    async with http.post(
        f"{base}/tpasettings/{PACKAGE}", data=b"{not json", headers=phone(server)
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "MALFORMED_MESSAGE"
    assert await server.store.get_app_settings(USER, PACKAGE) == {}


async def test_a_change_reaches_the_running_app_of_that_user(server, http, notes):
    glasses = await glasses_starting(server, http, PACKAGE, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    inbox = notes.inboxes[USER]
    url = f"{http_base(server)}/appsettings/{PACKAGE}"
    async with http.post(url, json={"key": "lang", "value": "de"}, headers=phone(server)) as r:
        assert r.status == 200
        assert await r.json() == {"success": True, "message": "Settings updated successfully"}
    update = await inbox.wait_for("settings_update")
    assert list(update) == ["type", "packageName", "sessionId", "settings", "timestamp"]
    assert update["packageName"] == PACKAGE
    assert update["sessionId"] == f"{USER}-{PACKAGE}"
    by_key = {s["key"]: s for s in update["settings"] if "key" in s}
    assert by_key["lang"]["value"] == "de" and by_key["size"]["value"] == 3
    assert await server.store.get_app_settings(USER, PACKAGE) == {"lang": "de"}
    # and the App server's /settings, as the reference cloud does
    for _ in range(100):
        if notes.settings_posts:
            break
        await asyncio.sleep(0.05)
    assert notes.settings_posts[0]["userIdForSettings"] == USER
    assert notes.settings_posts[0]["settings"] == update["settings"]
    # another user's change is not delivered to this App session
    async with http.post(
        url, json={"key": "lang", "value": "en"}, headers=phone(server, OTHER)
    ) as r:
        assert r.status == 200
    assert len(inbox.of_type("settings_update")) == 1
    assert len(notes.settings_posts) == 1
    await glasses.close()


async def test_a_slow_settings_post_never_lands_after_a_newer_change(server, http, notes):
    glasses = await glasses_starting(server, http, PACKAGE, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    inbox = notes.inboxes[USER]
    notes.settings_delay = 0.4
    url = f"{http_base(server)}/appsettings/{PACKAGE}"
    for value in (2, 4):
        async with http.post(url, json={"key": "size", "value": value}, headers=phone(server)) as r:
            assert r.status == 200
    await asyncio.sleep(0.15)
    # the second change waits for the first one's /settings POST: nothing overtakes it
    assert len(inbox.of_type("settings_update")) == 1
    for _ in range(100):
        if len(notes.settings_posts) == 2:
            break
        await asyncio.sleep(0.05)
    sizes = [
        {s["key"]: s.get("value") for s in p["settings"]}["size"] for p in notes.settings_posts
    ]
    assert sizes == [2, 4]
    frames = inbox.of_type("settings_update")
    assert [{s["key"]: s.get("value") for s in f["settings"]}["size"] for f in frames] == [2, 4]
    await glasses.close()


async def test_the_sdk_read_needs_a_live_session_of_that_app(server, http, notes):
    url = f"{http_base(server)}/appsettings/user/{PACKAGE}"
    async with http.get(url) as r:
        assert r.status == 401
        assert (await r.json())["error"]["code"] == "MISSING_TOKEN"
    async with http.get(url, headers={"Authorization": f"Bearer {USER}-com.example.other"}) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "PACKAGE_MISMATCH"
    own = {"Authorization": f"Bearer {USER}-{PACKAGE}"}
    async with http.get(url, headers=own) as r:
        assert r.status == 410
        assert (await r.json())["error"]["code"] == "APP_NOT_STARTED"
    await server.store.set_app_settings(USER, PACKAGE, {"size": 5})
    glasses = await glasses_starting(server, http, PACKAGE, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    async with http.get(url, headers=own) as r:
        assert r.status == 200
        body = await r.json()
    assert {s["key"]: s.get("value") for s in body["settings"]}["size"] == 5
    # the legacy alias answers too; another user's id does not (no session of theirs)
    async with http.get(
        f"{http_base(server)}/tpasettings/user/{PACKAGE}",
        headers={"Authorization": f"Bearer {OTHER}-{PACKAGE}"},
    ) as r:
        assert r.status == 410
    await glasses.close()


# ---- tools -----------------------------------------------------------------------------


async def _ran_once(server) -> None:
    await server.store.set_app_settings(USER, PACKAGE, {})


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ("not an object", 400, "MALFORMED_MESSAGE", None),
        ({"userId": USER}, 400, "INVALID_FIELD", "toolId"),
        ({"toolId": "add_note"}, 400, "INVALID_FIELD", "userId"),
        (
            {"toolId": "add_note", "userId": USER, "toolParameters": []},
            400,
            "INVALID_FIELD",
            "toolParameters",
        ),
        ({"toolId": "nope", "userId": USER}, 404, "TOOL_NOT_FOUND", "toolId"),
        ({"toolId": "add_note", "userId": USER}, 400, "INVALID_FIELD", "toolParameters.text"),
        (
            {"toolId": "add_note", "userId": USER, "toolParameters": {"text": 3}},
            400,
            "INVALID_FIELD",
            "toolParameters.text",
        ),
        (
            {"toolId": "add_note", "userId": USER, "toolParameters": {"text": "a", "mood": "x"}},
            400,
            "INVALID_FIELD",
            "toolParameters.mood",
        ),
        (
            {"toolId": "add_note", "userId": USER, "toolParameters": {"text": {"x": 1}}},
            400,
            "INVALID_FIELD",
            "toolParameters.text",
        ),
        (
            {"toolId": "add_note", "userId": OTHER, "toolParameters": {"text": "a"}},
            403,
            "USER_MISMATCH",
            "userId",
        ),
    ],
)
async def test_bad_tool_calls_are_refused_and_the_app_is_not_called(
    server, http, notes, body, status, code, field
):
    await _ran_once(server)
    url = f"{http_base(server)}/api/tools/apps/{PACKAGE}/tool"
    async with http.post(url, json=body, headers=phone(server)) as r:
        assert r.status == status
        answer = await r.json()
    assert answer["success"] is False
    assert answer["error"]["code"] == code
    assert answer["error"].get("field") == field
    assert notes.tool_calls == []


async def test_tool_calls_only_for_the_users_apps_and_bounded_answers(server, http, notes):
    url = f"{http_base(server)}/api/tools/apps/{PACKAGE}/tool"
    call = {"toolId": "add_note", "userId": USER, "toolParameters": {"text": "milk"}}
    async with http.post(url, json=call) as r:
        assert r.status == 401
    async with http.post(url, json=call, headers=phone(server)) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "APP_NOT_INSTALLED"
    async with http.post(
        f"{http_base(server)}/api/tools/apps/com.example.none/tool",
        json=call,
        headers=phone(server),
    ) as r:
        assert r.status == 404
    await _ran_once(server)
    async with http.post(url, json=call, headers=phone(server)) as r:
        assert r.status == 200
        assert await r.json() == {"status": "success", "reply": "noted {'text': 'milk'}"}
    sent = notes.tool_calls[-1]
    assert set(sent) == {"toolId", "toolParameters", "userId", "timestamp"}
    # a developer token may call for any user (still only that user's Apps)
    async with http.post(url, json=call, headers=developer(server)) as r:
        assert r.status == 200
    for tool_id in ("junk", "huge", "flood"):
        async with http.post(url, json={**call, "toolId": tool_id}, headers=phone(server)) as r:
            assert r.status == 502
            assert (await r.json())["error"]["code"] == "TOOL_FAILED"
    await notes.stop()  # unreachable now
    async with http.post(url, json=call, headers=phone(server)) as r:
        assert r.status == 502
        assert "unreachable" in (await r.json())["error"]["message"]


async def test_tool_timeout_is_coded(server, http, notes, monkeypatch):
    monkeypatch.setattr(tools_api, "TOOL_CALL_TIMEOUT", 0.3)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/tool", slow)
    runner, port = await serve_on_loopback(app)
    await server.store.update_app(PACKAGE, public_url=f"http://127.0.0.1:{port}")
    await _ran_once(server)
    call = {"toolId": "add_note", "userId": USER, "toolParameters": {"text": "milk"}}
    async with http.post(
        f"{http_base(server)}/api/tools/apps/{PACKAGE}/tool", json=call, headers=phone(server)
    ) as r:
        assert r.status == 504
        assert (await r.json())["error"]["code"] == "TOOL_TIMEOUT"
    await runner.cleanup()


async def test_tool_lists(server, http, notes):
    base = f"{http_base(server)}/api/tools"
    async with http.get(f"{base}/apps/{PACKAGE}/tools") as r:
        assert r.status == 401
    async with http.get(f"{base}/apps/{PACKAGE}/tools", headers=phone(server)) as r:
        assert [t["id"] for t in await r.json()] == ["add_note", "junk", "huge", "flood"]
    async with http.get(f"{base}/users/{USER}/tools", headers=phone(server)) as r:
        assert await r.json() == []  # the user never ran it
    await _ran_once(server)
    async with http.get(f"{base}/users/{USER}/tools", headers=phone(server)) as r:
        assert {t["appPackageName"] for t in await r.json()} == {PACKAGE}
    async with http.get(f"{base}/users/{USER}/tools", headers=phone(server, OTHER)) as r:
        assert r.status == 403
        assert (await r.json())["error"]["code"] == "USER_MISMATCH"
    async with http.get(f"{base}/users/{USER}/tools", headers=developer(server)) as r:
        assert r.status == 200


# ---- developers manage Apps ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"tools": [{"description": "x"}]}, "tools[0].id"),
        ({"tools": {"id": "x"}}, "tools"),
        ({"tools": [{"id": str(i)} for i in range(65)]}, "at most 64"),
        ({"settings": [{"type": "toggle", "label": "no key"}]}, "settings[0].key"),
        ({"settings": [{"type": "colour", "key": "c"}]}, "settings[0].type"),
        ({"settings": [{"type": "text", "key": "x" * 201}]}, "settings[0].key"),
        ({"webviewURL": "javascript:alert(1)"}, "webviewURL"),
        ({"publicUrl": "ftp://x"}, "public_url"),
        ({"appType": "foreground"}, "app_type"),
        ({"isSystemApp": "yes"}, "isSystemApp"),
        ({"permissions": ["TELEPATHY"]}, "permission"),
        ({"description": "only unknown fields"}, "Nothing to change"),
    ],
)
async def test_bad_app_updates_are_refused_and_nothing_changes(server, http, notes, body, words):
    url = f"{http_base(server)}/api/dev/apps/{PACKAGE}"
    before = await server.store.get_app(PACKAGE)
    async with http.patch(url, json=body, headers=developer(server)) as r:
        assert r.status == 400
        answer = await r.json()
    assert answer["error"]["code"] == "INVALID_FIELD"
    assert words in answer["error"]["message"]
    assert await server.store.get_app(PACKAGE) == before


async def test_register_update_and_delete_an_app(server, http, notes):
    base = f"{http_base(server)}/api/dev/apps"
    async with http.patch(f"{base}/{PACKAGE}", json={"name": "x"}) as r:
        assert r.status == 401
    async with http.patch(
        f"{base}/com.example.none", json={"name": "x"}, headers=developer(server)
    ) as r:
        assert r.status == 404
    # registration keeps tools and webviewURL (they used to be dropped)
    new = {
        "packageName": "com.example.web",
        "name": "Web",
        "publicUrl": "http://127.0.0.1:9",
        "tools": [{"id": "t", "description": "d"}],
        "webviewURL": "https://web.example/app",
    }
    async with http.post(base, json=new, headers=developer(server)) as r:
        assert r.status == 201
        created = (await r.json())["app"]
    assert created["tools"] == [{"id": "t", "description": "d"}]
    assert created["webviewURL"] == "https://web.example/app"
    change = {
        "tools": [{"id": "u", "description": "e"}],
        "webviewURL": None,
        "name": "Web 2",
        "description": "ignored",
    }
    async with http.patch(f"{base}/com.example.web", json=change, headers=developer(server)) as r:
        assert r.status == 200
        body = await r.json()
    assert body["app"]["name"] == "Web 2" and body["app"]["webviewURL"] is None
    assert body["ignored"] == ["description"]
    async with http.get(f"{base}/com.example.web", headers=developer(server)) as r:
        assert (await r.json())["app"]["tools"] == [{"id": "u", "description": "e"}]

    # deleting a running App stops it for every live session
    glasses = await glasses_starting(server, http, PACKAGE, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    async with http.delete(f"{base}/{PACKAGE}", headers=developer(server)) as r:
        assert r.status == 200
        assert await r.json() == {"deleted": PACKAGE, "stoppedSessions": 1}
    stopped = await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    assert stopped["reason"] == "app_deleted"
    hook = await notes.wait_webhook("stop_request")
    assert hook["reason"] == "app_deleted"
    assert await server.store.get_app(PACKAGE) is None
    assert PACKAGE not in (await server.store.get_user(USER)).running_apps
    async with http.delete(f"{base}/{PACKAGE}", headers=developer(server)) as r:
        assert r.status == 404
    await glasses.close()


async def test_cli_delete_through_the_running_server_stops_live_sessions(
    server, http, notes, monkeypatch
):
    from glasscloud.cli import main

    monkeypatch.setenv("GLASSCLOUD_SECRET", server.secret)
    glasses = await glasses_starting(server, http, PACKAGE, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    argv = [
        "apps",
        "update",
        PACKAGE,
        "--name",
        "Renamed",
        "--server",
        http_base(server),
        "--database",
        server.config.database,
    ]
    assert await asyncio.to_thread(main, argv) == 0
    assert (await server.store.get_app(PACKAGE)).name == "Renamed"
    argv = [
        "apps",
        "delete",
        PACKAGE,
        "--server",
        http_base(server),
        "--database",
        server.config.database,
    ]
    assert await asyncio.to_thread(main, argv) == 0
    stopped = await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    assert stopped["reason"] == "app_deleted"
    assert await server.store.get_app(PACKAGE) is None
    await glasses.close()
