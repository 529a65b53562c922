"""A glasscloud restart with a live session and a real SDK App: the SDK reconnects on its
own, glasscloud reopens the user's session for it (no new webhook, no new onSession), the
glasses come back to the same running App, and captions flow again."""

from __future__ import annotations

from glasscloud.server.run import start_server, stop_server
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_app import PACKAGE, USER, free_port
from tests.conformance.test_sdk_faults import said, subscribed
from tests.support.clients import connect_glasses
from tests.support.servers import make_config, token_for, ws_base


async def test_server_restart_keeps_the_sdk_session(tmp_path, http):
    ensure_installed()
    config = make_config(tmp_path, port=free_port())
    server = await start_server(config)
    app_port = free_port()
    _, key = await server.store.create_app(
        PACKAGE, "SDK conformance", f"http://127.0.0.1:{app_port}", permissions=("MICROPHONE",)
    )
    sdk = SdkApp()
    try:
        await sdk.start(PACKAGE, key, app_port)
        glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": PACKAGE})
        await glasses.wait_for("app_state_change", subscribed, timeout=15)
        await glasses.send(said("before the restart"))
        await sdk.wait_for("transcription")

        await stop_server(server)  # sockets closed with 1012: reconnect
        assert await glasses.wait_closed() == 1012
        server = await start_server(config)

        reconnected = await sdk.wait_for("connected", timeout=15)
        assert reconnected["sessionId"] == f"{USER}-{PACKAGE}"
        again = await connect_glasses(http, ws_base(server), token_for(server, USER), "again")
        ack = await again.wait_for("connection_ack")
        if PACKAGE not in ack["userSession"]["activeAppSessions"]:
            await again.wait_for("app_state_change", lambda m: m.get("state") == "running")
        session = server.registry.get(USER)
        for _ in range(50):
            if "transcription:en-US" in session.subscriptions.as_map().get(PACKAGE, []):
                break
            await again.wait_for("app_state_change", timeout=5)
        await again.send(said("after the restart"))
        heard = await sdk.wait_for(
            "transcription", lambda e: e["data"]["text"] == "after the restart", timeout=10
        )
        assert heard["sessionId"] == f"{USER}-{PACKAGE}"
        assert len(sdk.events_named("session")) == 1  # the same App session carried on
        assert server.metrics.get("webhooks_ok", kind="session_request") == 0
        await again.close()
    finally:
        await sdk.stop()
        await stop_server(server)
