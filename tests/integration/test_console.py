"""The console's routes on a real server: the page is served, the mirror stream refuses every
request without a developer token (never a byte of data), follows a user's session and
costs the session nothing once its last watcher left."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.server import console
from tests.support.scenarios import running_app
from tests.support.servers import http_base, serving, token_for

USER = "reader@example.com"


def dev_headers(server: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_developer_token(server.secret, 'ops@example.com')}"}


async def read_events(response: aiohttp.ClientResponse, until, timeout: float = 5.0) -> list:
    """SSE `data:` objects until `until(event)` holds."""
    events: list[dict[str, Any]] = []
    buffer = b""
    async with asyncio.timeout(timeout):
        async for chunk in response.content.iter_any():
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        event = json.loads(line[6:])
                        events.append(event)
                        if until(event):
                            return events
    raise AssertionError(f"stream ended; got {events}")


async def test_console_page_is_served_without_data(server, http):
    async with http.get(f"{http_base(server)}/console") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert "Developer token" in page
    async with http.get(f"{http_base(server)}/console/console.js") as response:
        assert response.status == 200
        assert "Authorization" in await response.text()
    async with http.get(f"{http_base(server)}/console/..%2Fapp.py") as response:
        assert response.status == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Basic b3BzOnB3"},
    ],
    ids=["no token", "wrong token", "other scheme"],
)
async def test_mirror_and_admin_routes_refuse_without_developer_token(server, http, headers):
    _, glasses = await running_app(server, http, user=USER)
    for path in (f"/api/admin/mirror/{USER}", "/api/admin/sessions", "/api/dev/apps"):
        async with http.get(f"{http_base(server)}{path}", headers=headers) as response:
            assert response.status == 401, path
            body = await response.read()
            assert USER.encode() not in body
            assert b"data:" not in body
            assert response.content_type == "application/json"
    assert server.registry.get(USER).ctx.mirror is None
    await glasses.close()


async def test_a_core_token_is_not_a_developer_token(server, http):
    _, glasses = await running_app(server, http, user=USER)
    headers = {"Authorization": f"Bearer {token_for(server, USER)}"}
    async with http.get(f"{http_base(server)}/api/admin/mirror/{USER}", headers=headers) as r:
        assert r.status == 401
        assert USER.encode() not in await r.read()
    await glasses.close()


async def test_mirror_streams_what_the_glasses_are_shown_and_captions(server, http):
    app, glasses = await running_app(server, http, user=USER)
    session = server.registry.get(USER)
    assert session.ctx.mirror is None  # nobody watches: no tap
    url = f"{http_base(server)}/api/admin/mirror/{USER}"
    async with http.get(url, headers=dev_headers(server)) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        first = await read_events(response, lambda e: e["type"] == "snapshot")
        assert first[0] == {**first[0], "type": "session", "live": True, "glassesConnected": True}
        assert session.ctx.mirror is not None
        await app.inboxes[USER].send(
            {
                "type": "display_event",
                "packageName": "com.example.captions",
                "view": "main",
                "layout": {"layoutType": "double_text_wall", "topText": "Top", "bottomText": "B"},
            }
        )
        events = await read_events(response, lambda e: e["type"] == "main")
        frame = events[-1]["frame"]
        assert frame["packageName"] == "com.example.captions"
        assert frame["layout"] == {
            "layoutType": "double_text_wall",
            "topText": "Top",
            "bottomText": "B",
        }
        await glasses.send(
            {
                "type": "local_transcription",
                "text": "good morning",
                "isFinal": True,
                "transcribeLanguage": "en-US",
            }
        )
        events = await read_events(response, lambda e: e["type"] == "caption")
        assert events[-1]["caption"]["text"] == "good morning"
        await glasses.close()  # the glasses go away: the page hears of it
        events = await read_events(response, lambda e: e["type"] == "session")
        assert events[-1]["glassesConnected"] is False
    # the page went away: the session is no longer fed
    for _ in range(50):
        if session.ctx.mirror is None:
            break
        await asyncio.sleep(0.05)
    assert session.ctx.mirror is None
    assert not server.web_app[console.HUB_KEY].watchers
    await glasses.close()


async def test_mirror_waits_for_a_session_and_follows_the_next(server, http):
    url = f"{http_base(server)}/api/admin/mirror/{USER}"
    async with http.get(url, headers=dev_headers(server)) as response:
        events = await read_events(response, lambda e: e["type"] == "session")
        assert events[-1] == {"type": "session", "live": False}
        _, glasses = await running_app(server, http, user=USER)
        events = await read_events(response, lambda e: e["type"] == "snapshot")
        assert any(e["type"] == "session" and e["live"] for e in events)
        await glasses.close()


async def test_watchers_are_limited(server, http, monkeypatch):
    monkeypatch.setattr(console, "MAX_WATCHERS", 1)
    url = f"{http_base(server)}/api/admin/mirror/{USER}"
    async with http.get(url, headers=dev_headers(server)) as first:
        await read_events(first, lambda e: e["type"] == "session")
        async with http.get(url, headers=dev_headers(server)) as second:
            assert second.status == 429
            assert (await second.json())["error"]["code"] == "TOO_MANY_CONNECTIONS"


async def test_an_open_mirror_does_not_hold_a_shutdown(tmp_path, http):
    async with serving(tmp_path) as running:
        url = f"{http_base(running)}/api/admin/mirror/{USER}"
        response = await http.get(url, headers=dev_headers(running))
        await read_events(response, lambda e: e["type"] == "session")
        loop = asyncio.get_running_loop()
        started = loop.time()
    assert loop.time() - started < 3.0
    assert await response.content.read() == b""  # the stream ended
    response.release()
