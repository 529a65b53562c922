"""The Python App SDK's settings and tools against a real server: the terminal simulator's
`setting` command changes a setting over REST, `on_value_change` fires once for that user,
`settings.fetch()` reads them, and `@app.tool` answers an AI tool call."""

from __future__ import annotations

import asyncio

from glasscloud.sdk import AppServer, ToolCall
from tests.integration.test_sdk_examples import USER, simulator, until
from tests.support.servers import http_base, token_for

PACKAGE = "com.example.pysettings"
SCHEMA = [
    {"key": "size", "label": "Size", "type": "slider", "min": 1, "max": 5, "defaultValue": 3},
    {
        "key": "topics",
        "label": "Topics",
        "type": "multiselect",
        "defaultValue": [],
        "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
    },
]
TOOLS = [{"id": "echo", "description": "says it back"}]


async def test_python_app_settings_and_tools(server, http):
    app = AppServer(PACKAGE, "not-yet", port=0, host="127.0.0.1")
    changes: list[tuple] = []
    fetched: list[dict] = []
    calls: list[ToolCall] = []

    @app.on_session
    async def started(session):
        session.settings.on_value_change(
            "size", lambda new, old: changes.append(("size", new, old))
        )
        session.settings.on_value_change(
            "topics", lambda new, old: changes.append(("topics", new, old))
        )
        fetched.append(await session.settings.fetch())

    @app.tool("echo")
    async def echo(call: ToolCall):
        calls.append(call)
        return f"you said {call.parameters.get('text')}"

    await app.start()
    _, app.api_key = await server.store.create_app(
        PACKAGE,
        "Py settings",
        f"http://127.0.0.1:{app.port}",
        app_type="standard",
        settings_schema=SCHEMA,
        tools=TOOLS,
    )
    out: list[str] = []
    sim, typed, loop = await simulator(server, http, out)
    typed.type(f"start {PACKAGE}")
    await sim.wait_for_screen(lambda s: f"{PACKAGE} (running)" in s)
    await until(lambda: fetched)
    assert fetched[0] == {"size": 3, "topics": []}

    typed.type(f"setting {PACKAGE} size 4")
    await until(lambda: f"{PACKAGE}: size = 4" in out)
    await until(lambda: changes)
    typed.type(f'setting {PACKAGE} topics ["a","b"]')
    await until(lambda: len(changes) >= 2)
    typed.type(f"setting {PACKAGE} size 99")
    await until(lambda: any(line.startswith("setting not changed:") for line in out))
    assert "size" in next(line for line in out if line.startswith("setting not changed"))
    await asyncio.sleep(0.3)  # the /settings POSTs have arrived too: still once each
    assert changes == [("size", 4, 3), ("topics", ["a", "b"], [])]

    call = {"toolId": "echo", "toolParameters": {"text": "hi"}, "userId": USER}
    async with http.post(
        f"{http_base(server)}/api/tools/apps/{PACKAGE}/tool",
        json=call,
        headers={"Authorization": f"Bearer {token_for(server, USER)}"},
    ) as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "success", "reply": "you said hi"}
    assert calls[0].session is not None and calls[0].session.user_id == USER

    typed.type("quit")
    await asyncio.wait_for(loop, 5)
    await app.stop()
