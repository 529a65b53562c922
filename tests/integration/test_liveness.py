"""Liveness and recovery over real sockets: dead peers are detected, healthy idle ones are
left alone, a glasses resume loses nothing, an App server restart brings sessions back, a
second connection replaces the first cleanly, and SIGTERM shuts down gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import sys

import aiohttp

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.auth.tokens import issue_core_token
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import FAST, http_base, make_config, token_for, ws_base

USER = "lena@example.com"
LIVELY = dataclasses.replace(FAST, ping_interval=0.2, missed_pings=2)


async def test_unresponsive_app_is_dropped_then_restarted(tmp_path, http):
    server = await start_server(make_config(tmp_path, timings=LIVELY))
    try:
        app = await register_app(server, http)
        app.connect = False
        glasses = await glasses_starting(server, http, app.package, USER)
        hook = await app.wait_webhook("session_request")
        # an App that authenticates, then neither reads nor answers pings
        ws = await http.ws_connect(hook["mentraOSWebsocketUrl"], autoping=False)
        await ws.send_json(
            {
                "type": "tpa_connection_init",
                "sessionId": hook["sessionId"],
                "packageName": app.package,
                "apiKey": app.api_key,
            }
        )
        await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
        # dropped by liveness, then after the App grace a fresh session_request
        await app.wait_webhook("session_request", count=2, timeout=8)
        assert server.metrics.get("liveness_kills", side="app") == 1
        dead = [s for s in server.closed_stats if s.side == "app"]
        assert dead and dead[-1].disconnect_reason.startswith("no pong or traffic")
        restarting = await glasses.wait_for(
            "app_state_change", lambda m: m.get("state") == "loading"
        )
        assert restarting["packageName"] == app.package
        await glasses.close()
        await app.stop()
    finally:
        await stop_server(server)


async def test_healthy_idle_connections_are_kept_and_rtt_is_reported(tmp_path, http):
    server = await start_server(make_config(tmp_path, timings=LIVELY))
    try:
        app = await register_app(server, http)
        glasses = await glasses_starting(server, http, app.package, USER)
        await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
        for _ in range(6):  # several ping intervals, nobody sends anything
            await asyncio.sleep(0.2)
        assert server.metrics.total("liveness_kills") == 0
        assert glasses.close_code is None and app.inboxes[USER].close_code is None
        dev = {"Authorization": "Bearer " + issue_developer_token(server.secret, "ops@x.org")}
        async with http.get(f"{http_base(server)}/api/admin/sessions", headers=dev) as r:
            status = await r.json()
        sides = {c["side"]: c for c in status["connections"]}
        assert sides["glasses"]["pongs"] >= 2 and sides["glasses"]["rttMs"]
        assert sides["app"]["pongs"] >= 2 and sides["app"]["packageName"] == app.package
        assert status["sessions"][0]["apps"] == {app.package: "running"}
        await glasses.close()
        await app.stop()
    finally:
        await stop_server(server)


async def test_glasses_resume_loses_and_duplicates_nothing(server, http):
    app = await register_app(server, http)
    app.subscriptions = ["button_press"]
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    await glasses.wait_for(
        "app_state_change", lambda m: m["userSession"]["appSubscriptions"].get(app.package)
    )
    for n in range(30):
        await glasses.send({"type": "button_press", "buttonId": f"b{n}", "pressType": "short"})
    await glasses.close()
    again = await connect_glasses(http, ws_base(server), token_for(server, USER), "again")
    await again.wait_for("connection_ack")
    for n in range(30, 60):
        await again.send({"type": "button_press", "buttonId": f"b{n}", "pressType": "short"})
    inbox = app.inboxes[USER]
    await inbox.wait_for("data_stream", lambda m: m["data"]["buttonId"] == "b59")
    received = [m["data"]["buttonId"] for m in inbox.of_type("data_stream")]
    assert received == [f"b{n}" for n in range(60)]
    assert len(app.webhooks) == 1
    await again.close()
    await app.stop()


async def test_app_server_restart_notification_rerequests_every_session(server, http):
    app = await register_app(server, http)
    users = ["u1@example.com", "u2@example.com", "u3@example.com"]
    sessions = [await glasses_starting(server, http, app.package, user) for user in users]
    for glasses in sessions:
        await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    base = http_base(server)
    async with http.post(
        f"{base}/api/app-server/register", json={"packageName": app.package, "apiKey": "wrong"}
    ) as r:
        assert r.status == 403
    async with http.post(
        f"{base}/api/app-server/register",
        json={
            "packageName": app.package,
            "apiKey": app.api_key,
            "webhookUrl": app.public_url + "/webhook",
            "serverUrls": app.public_url,
        },
    ) as r:
        assert r.status == 201
        registration = (await r.json())["registrationId"]
    async with http.post(
        f"{base}/api/app-server/heartbeat", json={"registrationId": registration}
    ) as r:
        assert (await r.json())["success"] is True
    async with http.post(f"{base}/api/app-server/heartbeat", json={"registrationId": "nope"}) as r:
        assert r.status == 404
    async with http.post(
        f"{base}/api/app-server/restart", json={"registrationId": registration}
    ) as r:
        assert (await r.json()) == {"success": True, "recoveredSessions": 3}
    await app.wait_webhook("session_request", count=6)
    hooks = [w["userId"] for w in app.webhooks if w["type"] == "session_request"]
    assert sorted(hooks[3:]) == sorted(users)
    for glasses in sessions:
        back = await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
        assert back["packageName"] == app.package
        await glasses.close()
    await app.stop()


async def test_second_connection_replaces_the_first_which_is_told_why(server, http):
    first = await connect_glasses(http, ws_base(server), token_for(server, USER), "first")
    await first.wait_for("connection_ack")
    second = await connect_glasses(http, ws_base(server), token_for(server, USER), "second")
    await second.wait_for("connection_ack")
    notice = await first.wait_for("connection_error")
    assert notice["code"] == "SESSION_REPLACED"
    assert await first.wait_closed() == 1000
    await second.send({"type": "request_settings"})
    await second.wait_for("settings_update")
    assert server.registry.get(USER).glasses is not None
    await second.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_sigterm_shuts_down_gracefully(tmp_path):
    port = _free_port()
    secret = "sigterm-test-secret-0123456789abcdef"
    env = {**os.environ, "GLASSCLOUD_SECRET": secret}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "glasscloud",
        "serve",
        "--port",
        str(port),
        "--database",
        f"sqlite:///{tmp_path / 'serve.db'}",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            ws = await http.ws_connect(
                f"ws://127.0.0.1:{port}/glasses-ws",
                headers={"Authorization": "Bearer " + issue_core_token(secret, USER)},
            )
            glasses = FrameInbox(ws, "glasses")
            await glasses.wait_for("connection_ack")
            process.send_signal(signal.SIGTERM)
            assert await glasses.wait_closed(timeout=10) == 1012
        code = await asyncio.wait_for(process.wait(), 15)
        assert code == 0
        stderr = (await process.stderr.read()).decode()
        assert "shutting down" in stderr and "Traceback" not in stderr
        assert "start-up objects frozen out of the garbage collector" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
