"""Fault tests with the real SDK App: the App process is killed mid-stream and comes back;
glasscloud restarts it by webhook with backoff, and the glasses see every state."""

from __future__ import annotations

from glasscloud.server.run import start_server, stop_server
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_app import PACKAGE, USER, free_port
from tests.support.clients import connect_glasses
from tests.support.servers import make_config, token_for, ws_base


def said(text: str) -> dict:
    return {
        "type": "local_transcription",
        "text": text,
        "isFinal": True,
        "transcribeLanguage": "en-US",
        "startTime": 0,
        "endTime": 500,
    }


def subscribed(message: dict) -> bool:
    return "transcription:en-US" in message["userSession"]["appSubscriptions"].get(PACKAGE, [])


async def test_killed_app_process_is_restarted_and_captions_resume(tmp_path, http):
    ensure_installed()
    server = await start_server(make_config(tmp_path))
    port = free_port()
    _, key = await server.store.create_app(
        PACKAGE, "SDK conformance", f"http://127.0.0.1:{port}", permissions=("MICROPHONE",)
    )
    first = SdkApp()
    second = SdkApp()
    try:
        await first.start(PACKAGE, key, port)
        glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": PACKAGE})
        await glasses.wait_for(
            "app_state_change", lambda m: m.get("state") == "running", timeout=15
        )
        await glasses.wait_for("app_state_change", subscribed, timeout=10)
        await glasses.send(said("before the crash"))
        await first.wait_for("transcription")

        glasses.skip_existing()
        await first.kill()  # mid-stream: no close frame, no ownership_release
        await second.start(PACKAGE, key, port)  # the App server comes back on its port
        restarting = await glasses.wait_for(
            "app_state_change", lambda m: m.get("state") == "loading", timeout=15
        )
        assert restarting["packageName"] == PACKAGE
        await glasses.wait_for(
            "app_state_change", lambda m: m.get("state") == "running", timeout=15
        )
        session = await second.wait_for("session", timeout=15)
        assert session["sessionId"] == f"{USER}-{PACKAGE}"
        await glasses.wait_for("app_state_change", subscribed, timeout=10)
        await glasses.send(said("after the crash"))
        heard = await second.wait_for("transcription", timeout=10)
        assert heard["data"]["text"] == "after the crash"
        assert server.metrics.get("app_restarts") >= 1
        await glasses.close()
    finally:
        await first.stop()
        await second.stop()
        await stop_server(server)
