"""Key rotation is revocation: App sockets authenticated with the old key are told
(`API_KEY_ROTATED`) and closed, whether the key was rotated through the developer API (at
once) or by another process writing the shared database (within the check interval)."""

from __future__ import annotations

import asyncio

from glasscloud.auth.app_tokens import issue_app_token, issue_developer_token
from glasscloud.core.clock import ManualClock
from glasscloud.server.app_records import AppRecordCache
from glasscloud.server.run import start_server, stop_server
from glasscloud.store.store import Store
from tests.support.clients import FrameInbox
from tests.support.scenarios import running_app
from tests.support.servers import http_base, make_config, ws_base

USER = "rotating@example.com"


async def test_rotation_through_the_developer_api_closes_old_sockets_at_once(server, http):
    app, glasses = await running_app(server, http, "com.example.rot", USER)
    other, _ = await running_app(server, http, "com.example.other", USER)
    inbox = app.inboxes[USER]
    dev = {"Authorization": f"Bearer {issue_developer_token(server.secret, 'dev@example.com')}"}
    async with http.post(
        f"{http_base(server)}/api/dev/apps/{app.package}/api-key", headers=dev
    ) as response:
        assert response.status == 200
    error = await inbox.wait_for("tpa_connection_error", timeout=1.0)
    assert error["code"] == "API_KEY_ROTATED"
    assert "rotated" in error["message"] and error["hint"]
    assert await inbox.wait_closed(timeout=1.0) == 1000
    assert server.metrics.get("app_revoked", reason="API_KEY_ROTATED") == 1
    assert not other.inboxes[USER].ws.closed  # another App is untouched
    await glasses.close()
    await app.stop()
    await other.stop()


async def test_rotation_by_another_process_is_noticed_within_the_interval(tmp_path, http):
    """The CLI's `apps rotate-key` is another process writing the shared database. The
    socket here authenticated at the upgrade with an App token (its `kv`); it takes over
    the App's session from the init-authenticated one."""
    server = await start_server(make_config(tmp_path, key_check_interval=0.2))
    try:
        app, glasses = await running_app(server, http, "com.example.rot", USER)
        token = issue_app_token(server.secret, app.package, 1)
        ws = await http.ws_connect(
            f"{ws_base(server)}/app-ws",
            headers={"Authorization": f"Bearer {token}", "X-Session-Id": f"{USER}-{app.package}"},
        )
        headed = FrameInbox(ws, "headed")
        await headed.wait_for("tpa_connection_ack")
        async with await Store.open(server.config.database) as cli_store:  # the CLI's own
            await cli_store.rotate_api_key(app.package)
        loop = asyncio.get_running_loop()
        started = loop.time()
        error = await headed.wait_for("tpa_connection_error", timeout=3.0)
        assert error["code"] == "API_KEY_ROTATED"
        assert await headed.wait_closed(timeout=3.0) == 1000
        assert loop.time() - started < 3.0
        await glasses.close()
        await app.stop()
    finally:
        await stop_server(server)


async def rotate_through_api(http, server, package):
    dev = {"Authorization": f"Bearer {issue_developer_token(server.secret, 'dev@example.com')}"}
    async with http.post(f"{http_base(server)}/api/dev/apps/{package}/api-key", headers=dev) as r:
        assert r.status == 200
        return (await r.json())["apiKey"]


async def test_rotation_through_the_api_refuses_a_new_connection_with_the_old_key_at_once(
    server, http
):
    """The App record is cached (server/app_records.py); rotating through this process's
    API drops it, so the next `tpa_connection_init` with the old key is refused however
    long the cache would have kept the record, and the new key is accepted."""
    server.app_records.ttl = 3600.0
    app, glasses = await running_app(server, http, "com.example.rot", USER)
    old_key = app.api_key
    new_key = await rotate_through_api(http, server, app.package)
    session_id = f"{USER}-{app.package}"
    again = await app.open_socket(f"{ws_base(server)}/app-ws", session_id, api_key=old_key)
    error = await again.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_API_KEY", "apiKey")
    assert await again.wait_closed() == 1008
    fresh = await app.open_socket(f"{ws_base(server)}/app-ws", session_id, api_key=new_key)
    await fresh.wait_for("tpa_connection_ack")
    await fresh.close()
    await glasses.close()
    await app.stop()


async def test_rotation_by_another_process_refuses_new_connections_within_the_ttl(server, http):
    """A rotation written by the CLI is not seen by the cache until its entry expires (the
    clock is driven here): until then an old-key connection is admitted, and the key-version
    check closes it; after the TTL the old key is refused."""
    clock = ManualClock()
    server.app_records = AppRecordCache(server.store.get_app, ttl=2.0, clock=clock.now)
    app, glasses = await running_app(server, http, "com.example.rot", USER)
    old_key = app.api_key
    async with await Store.open(server.config.database) as cli_store:  # the CLI's own
        await cli_store.rotate_api_key(app.package)
    session_id = f"{USER}-{app.package}"
    url = f"{ws_base(server)}/app-ws"
    within = await app.open_socket(url, session_id, api_key=old_key)
    await within.wait_for("tpa_connection_ack")  # the cached record (at most 2 s old)
    assert await server.revocations.check_once() >= 1  # ... and the check closes it
    error = await within.wait_for("tpa_connection_error")
    assert error["code"] == "API_KEY_ROTATED"
    clock.advance(2.01)
    after = await app.open_socket(url, session_id, api_key=old_key)
    error = await after.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_API_KEY", "apiKey")
    await glasses.close()
    await app.stop()
