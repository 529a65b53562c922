"""Apps over real sockets: webhook start, auth, ack, timeout, bad key, stop, routing, REST."""

from __future__ import annotations

import asyncio

from tests.support.clients import connect_glasses
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import http_base, token_for, ws_base

USER = "ann@example.com"


async def test_start_connect_ack_running(server, http):
    app = await register_app(
        server,
        http,
        settings_schema=(
            {"key": "greeting", "label": "Greeting", "type": "text", "defaultValue": "hi"},
        ),
    )
    await server.store.set_app_settings(USER, app.package, {"greeting": "hello"})
    glasses = await glasses_starting(server, http, app.package, USER)
    loading = await glasses.wait_for("app_state_change", lambda m: m.get("state") == "loading")
    assert loading["userSession"]["loadingApps"] == [app.package]
    running = await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    assert running["userSession"]["activeAppSessions"] == [app.package]
    hook = app.webhooks[0]
    assert hook["type"] == "session_request"
    assert hook["sessionId"] == f"{USER}-{app.package}"
    assert hook["mentraOSWebsocketUrl"] == hook["augmentOSWebsocketUrl"]
    assert hook["mentraOSWebsocketUrl"] == f"ws://127.0.0.1:{server.port}/app-ws"
    ack = app.inboxes[USER].of_type("tpa_connection_ack")[0]
    assert ack["settings"][0]["value"] == "hello"
    assert ack["mentraosSettings"]["brightness"] == 50
    assert ack["augmentosSettings"] == ack["mentraosSettings"]
    assert ack["capabilities"]["hasDisplay"] is True
    assert ack["config"]["settings"][0]["key"] == "greeting"
    assert ack["config"]["name"] == "captions"
    user = await server.store.get_user(USER)
    for _ in range(50):  # persistence is asynchronous; it lands within a few ms
        if user.running_apps:
            break
        await asyncio.sleep(0.02)
        user = await server.store.get_user(USER)
    assert user.running_apps == (app.package,)
    await glasses.close()
    await app.stop()


async def test_start_times_out_when_the_app_never_connects(server, http):
    app = await register_app(server, http)
    app.connect = False
    glasses = await glasses_starting(server, http, app.package, USER)
    stopped = await glasses.wait_for(
        "app_state_change", lambda m: m.get("state") == "stopped", timeout=5
    )
    assert stopped["error"]["stage"] == "TIMEOUT"
    assert stopped["userSession"]["loadingApps"] == []
    # a connection after the timeout is refused with a code
    late = await app.open_socket(f"ws://127.0.0.1:{server.port}/app-ws", f"{USER}-{app.package}")
    error = await late.wait_for("tpa_connection_error")
    assert error["code"] == "APP_NOT_STARTED"
    assert await late.wait_closed() == 1008
    await glasses.close()
    await app.stop()


async def test_unreachable_app_server_is_reported_with_stage(server, http):
    app = await register_app(server, http)
    await app.stop()  # nothing listens on its port any more
    glasses = await glasses_starting(server, http, app.package, USER)
    stopped = await glasses.wait_for(
        "app_state_change", lambda m: m.get("state") == "stopped", timeout=5
    )
    assert stopped["error"]["stage"] == "WEBHOOK"
    assert "unreachable" in stopped["error"]["message"]
    await glasses.close()


async def test_bad_api_key_unknown_package_and_no_session(server, http):
    app = await register_app(server, http)
    app.connect = False
    glasses = await glasses_starting(server, http, app.package, USER)
    await app.wait_webhook("session_request")
    url = f"ws://127.0.0.1:{server.port}/app-ws"
    cases = [
        (await app.open_socket(url, f"{USER}-{app.package}", api_key="wrong"), "INVALID_API_KEY"),
        (await app.open_socket(url, f"nobody@example.com-{app.package}"), "SESSION_NOT_FOUND"),
        (await app.open_socket(url, f"{USER}com.other"), "PACKAGE_MISMATCH"),
    ]
    app.package = "com.unknown"
    cases.append((await app.open_socket(url, f"{USER}-com.unknown"), "PACKAGE_NOT_FOUND"))
    for inbox, code in cases:
        error = await inbox.wait_for("tpa_connection_error")
        assert error["code"] == code
        assert error["message"]
        assert await inbox.wait_closed() == 1008
    assert server.metrics.get("app_auth_failures", code="INVALID_API_KEY") == 1
    await glasses.close()
    await app.stop()


async def test_stop_sends_webhook_then_app_stopped(server, http):
    app = await register_app(server, http)
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    inbox = app.inboxes[USER]
    app.inboxes.pop(USER)  # keep the socket open through the stop webhook, like onStop overrides
    await glasses.send({"type": "stop_app", "packageName": app.package})
    stop = await app.wait_webhook("stop_request")
    assert stop["reason"] == "user_disabled"
    assert stop["sessionId"] == f"{USER}-{app.package}"
    await inbox.wait_for("app_stopped")
    assert await inbox.wait_closed() == 1000
    changed = await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    assert changed["userSession"]["activeAppSessions"] == []
    await asyncio.sleep(0.3)
    assert len([w for w in app.webhooks if w["type"] == "session_request"]) == 1
    await glasses.close()
    await app.stop()


async def test_routing_exact_streams_language_and_audio(server, http):
    app = await register_app(server, http)
    app.subscriptions = [
        "transcription:en-US",
        "transcription:fr-FR?no-language-identification=true&hints=en%2Cde",
        "button_press",
        "touch_event:double_tap",
        "audio_chunk",
    ]
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for(
        "app_state_change",
        lambda m: (
            app.package in m["userSession"]["appSubscriptions"]
            and m["userSession"]["appSubscriptions"][app.package]
        ),
    )
    inbox = app.inboxes[USER]
    await glasses.send(
        {
            "type": "local_transcription",
            "text": "bonjour",
            "isFinal": True,
            "transcribeLanguage": "fr-FR",
            "startTime": 0,
            "endTime": 400,
        }
    )
    await glasses.send({"type": "local_transcription", "text": "hello", "isFinal": False})
    await glasses.send({"type": "button_press", "buttonId": "main", "pressType": "short"})
    await glasses.send({"type": "touch_event", "gesture_name": "double_tap"})
    await glasses.send({"type": "head_position", "position": "up"})
    pcm = bytes(range(200)) * 16
    await glasses.ws.send_bytes(pcm)
    fr = await inbox.wait_for("data_stream", lambda m: m["data"].get("text") == "bonjour")
    assert fr["streamType"] == ("transcription:fr-FR?no-language-identification=true&hints=en%2Cde")
    en = await inbox.wait_for("data_stream", lambda m: m["data"].get("text") == "hello")
    assert en["streamType"] == "transcription:en-US"
    assert en["data"]["isFinal"] is False
    button = await inbox.wait_for("data_stream", lambda m: m["streamType"] == "button_press")
    assert button["data"] == {"type": "button_press", "buttonId": "main", "pressType": "short"}
    await inbox.wait_for("data_stream", lambda m: m["streamType"] == "touch_event:double_tap")
    assert await inbox.wait_binary(1) == [pcm]
    assert not [m for m in inbox.of_type("data_stream") if m["streamType"] == "head_position"]
    mic = await glasses.wait_for("microphone_state_change", lambda m: m["isMicrophoneEnabled"])
    assert set(mic["requiredData"]) == {"pcm", "transcription"}
    await glasses.close()
    await app.stop()


async def test_display_event_reaches_the_glasses_as_the_app(server, http):
    app = await register_app(server, http)
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    await app.inboxes[USER].send(
        {
            "type": "display_event",
            "packageName": "system.augmentos.dashboard",
            "sessionId": "",
            "view": "main",
            "layout": {"layoutType": "text_wall", "text": "I am the dashboard"},
        }
    )
    refused = await app.inboxes[USER].wait_for("tpa_connection_error")
    assert refused["code"] == "PACKAGE_MISMATCH"
    await app.inboxes[USER].send(
        {
            "type": "display_event",
            "packageName": app.package,
            "sessionId": "",
            "view": "main",
            "layout": {"layoutType": "text_wall", "text": "Hello glasses"},
        }
    )
    shown = await glasses.wait_for(
        "display_event", lambda m: m["layout"].get("text") == "Hello glasses"
    )
    assert shown["packageName"] == app.package
    assert shown["layout"] == {"layoutType": "text_wall", "text": "Hello glasses"}
    await app.inboxes[USER].send({"type": "display_event", "layout": {"layoutType": "nope"}})
    error = await app.inboxes[USER].wait_for("tpa_connection_error")
    assert error["field"] == "layout.layoutType"
    await glasses.close()
    await app.stop()


async def test_two_users_never_see_each_others_data(server, http):
    app = await register_app(server, http)
    app.subscriptions = ["button_press", "audio_chunk", "transcription:en-US"]
    alice = await glasses_starting(server, http, app.package, "alice@example.com")
    bob = await glasses_starting(server, http, app.package, "bob@example.com")
    for glasses in (alice, bob):
        await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    await alice.send({"type": "button_press", "buttonId": "alice", "pressType": "short"})
    await alice.ws.send_bytes(b"alice-audio")
    await alice.send({"type": "local_transcription", "text": "alice secret", "isFinal": True})
    a_inbox = app.inboxes["alice@example.com"]
    b_inbox = app.inboxes["bob@example.com"]
    await a_inbox.wait_for("data_stream", lambda m: m["data"].get("text") == "alice secret")
    await bob.send({"type": "button_press", "buttonId": "bob", "pressType": "short"})
    got_bob = await b_inbox.wait_for("data_stream")
    assert got_bob["data"]["buttonId"] == "bob"
    assert b_inbox.binaries == []
    assert all("alice" not in str(m) for m in b_inbox.messages)
    assert all("bob" not in str(m.get("data")) for m in a_inbox.of_type("data_stream"))
    await alice.close()
    await bob.close()
    await app.stop()


async def test_rest_start_stop_and_list_are_honest(server, http):
    good = await register_app(server, http, "com.example.good")
    dead = await register_app(server, http, "com.example.dead")
    await dead.stop()
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    auth = {"Authorization": f"Bearer {token_for(server, USER)}"}
    base = http_base(server)
    async with http.post(f"{base}/apps/{good.package}/start", headers=auth) as response:
        assert response.status == 200
        assert (await response.json())["success"] is True
    async with http.post(f"{base}/api/apps/{dead.package}/start", headers=auth) as response:
        body = await response.json()
        assert response.status == 502
        assert body["success"] is False and body["error"]["stage"] == "WEBHOOK"
    async with http.post(f"{base}/apps/com.nobody/start", headers=auth) as response:
        assert response.status == 404
    async with http.get(f"{base}/api/apps", headers=auth) as response:
        listing = {a["packageName"]: a for a in (await response.json())["data"]}
    assert listing[good.package]["is_running"] is True
    assert listing[dead.package]["is_running"] is False
    assert all("api_key_hash" not in str(a) and "hash" not in str(a) for a in listing.values())
    async with http.post(f"{base}/apps/{good.package}/stop", headers=auth) as response:
        assert response.status == 200
    await good.wait_webhook("stop_request")
    async with http.post(f"{base}/apps/{good.package}/stop", headers=auth) as response:
        assert response.status == 409
    async with http.get(f"{base}/api/apps") as response:
        assert response.status == 401
    async with http.get(f"{base}/api/apps", headers={"Authorization": "Bearer x"}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "INVALID_TOKEN"
    await glasses.close()
    await good.stop()


async def test_rest_start_without_glasses_session_says_so(server, http):
    app = await register_app(server, http)
    auth = {"Authorization": f"Bearer {token_for(server, USER)}"}
    async with http.post(f"{http_base(server)}/apps/{app.package}/start", headers=auth) as r:
        assert r.status == 409
        assert (await r.json())["error"]["code"] == "NO_SESSION"
    await app.stop()
