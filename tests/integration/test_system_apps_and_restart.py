"""System Apps (internal URL, key accepted only from system networks) and what survives a
restart of the server."""

from __future__ import annotations

import asyncio

from glasscloud.server.run import start_server, stop_server
from tests.support.clients import PyApp, connect_glasses
from tests.support.scenarios import glasses_starting, register_app
from tests.support.servers import make_config, token_for, ws_base

USER = "sam@example.com"


async def make_system_app(server, http) -> PyApp:
    app = PyApp(http, "system.example.dashboard", "")
    await app.start()
    _, app.api_key = await server.store.create_app(
        app.package, "Dashboard", app.public_url, is_system=True
    )
    return app


async def test_system_app_gets_internal_url_and_is_accepted_from_loopback(tmp_path, http):
    server = await start_server(
        make_config(
            tmp_path, public_url="https://glass.example.org", internal_url="http://127.0.0.1:1"
        )
    )
    try:
        system = await make_system_app(server, http)
        system.connect = False
        external = await register_app(server, http, "com.example.external")
        external.connect = False
        glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": system.package})
        await glasses.send({"type": "start_app", "packageName": external.package})
        sys_hook = await system.wait_webhook("session_request")
        ext_hook = await external.wait_webhook("session_request")
        assert sys_hook["mentraOSWebsocketUrl"] == "ws://127.0.0.1:1/app-ws"
        assert ext_hook["mentraOSWebsocketUrl"] == "wss://glass.example.org/app-ws"
        # connect the system App by hand to the real port (the internal URL is a placeholder)
        inbox = await system.open_socket(
            f"ws://127.0.0.1:{server.port}/app-ws", f"{USER}-{system.package}"
        )
        await inbox.wait_for("tpa_connection_ack")
        await glasses.close()
        await system.stop()
        await external.stop()
    finally:
        await stop_server(server)


async def test_system_app_key_refused_outside_system_networks(tmp_path, http):
    server = await start_server(make_config(tmp_path, system_networks=("10.0.0.0/8",)))
    try:
        system = await make_system_app(server, http)
        system.connect = False
        glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": system.package})
        await system.wait_webhook("session_request")
        inbox = await system.open_socket(
            f"ws://127.0.0.1:{server.port}/app-ws", f"{USER}-{system.package}"
        )
        error = await inbox.wait_for("tpa_connection_error")
        assert error["code"] == "SYSTEM_APP_NETWORK"
        assert "--system-networks" in error["message"]
        assert await inbox.wait_closed() == 1008
        await glasses.close()
        await system.stop()
    finally:
        await stop_server(server)


async def test_restart_keeps_apps_keys_and_running_apps(tmp_path, http):
    config = make_config(tmp_path, secret=None)
    server = await start_server(config)
    app = await register_app(server, http)
    token = token_for(server, USER)
    glasses = await glasses_starting(server, http, app.package, USER)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running")
    for _ in range(100):
        if (await server.store.get_user(USER)).running_apps:
            break
        await asyncio.sleep(0.02)
    await stop_server(server)
    assert await glasses.wait_closed() == 1012  # told to reconnect, not that the session ended

    server = await start_server(config)
    try:
        # the secret was kept: the same token still works; the App comes back by itself
        again = await connect_glasses(http, ws_base(server), token, "after-restart")
        await again.wait_for("connection_ack")
        running = await again.wait_for(
            "app_state_change", lambda m: m.get("state") == "running", timeout=5
        )
        assert running["packageName"] == app.package
        assert len([w for w in app.webhooks if w["type"] == "session_request"]) == 2
        assert (await server.store.get_app(app.package)).api_key_hash
        await again.close()
    finally:
        await app.stop()
        await stop_server(server)
