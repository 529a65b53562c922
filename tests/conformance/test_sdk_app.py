"""Conformance: an ordinary App on the real, unmodified `@mentra/sdk@2.1.29` (Node.js),
started through glasscloud by a test glasses client, over real sockets."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from glasscloud.server.app import GlasscloudServer
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.servers import token_for, ws_base

PACKAGE = "com.example.sdkconformance"
USER = "deaf-reader@example.com"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
async def sdk_app(server: GlasscloudServer) -> AsyncIterator[SdkApp]:
    ensure_installed()
    app = SdkApp()
    port = free_port()
    _, key = await server.store.create_app(
        PACKAGE,
        "SDK conformance",
        f"http://127.0.0.1:{port}",
        app_type="standard",
        permissions=("MICROPHONE",),
    )
    await app.start(PACKAGE, key, port)
    try:
        yield app
    finally:
        await app.stop()


def shown_text(message: dict) -> str | None:
    return message.get("layout", {}).get("text")


async def start_through_glasses(server, http) -> FrameInbox:
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": PACKAGE})
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running", timeout=15)
    return glasses


async def test_sdk_app_reacts_to_glasses_and_draws_on_them(server, http, sdk_app):
    glasses = await start_through_glasses(server, http)
    session = await sdk_app.wait_for("session")
    assert session["sessionId"] == f"{USER}-{PACKAGE}"
    assert session["userId"] == USER
    ready = await glasses.wait_for("display_event", lambda m: shown_text(m) == "SDK app ready")
    assert ready["packageName"] == PACKAGE
    # the SDK's subscriptions arrive through the normal app_state_change
    await glasses.wait_for(
        "app_state_change",
        lambda m: (
            set(m["userSession"]["appSubscriptions"].get(PACKAGE, []))
            == {"transcription:en-US", "button_press"}
        ),
    )

    await glasses.send({"type": "button_press", "buttonId": "main", "pressType": "short"})
    pressed = await sdk_app.wait_for("button_press")
    assert pressed["data"]["buttonId"] == "main"
    shown = await glasses.wait_for("display_event", lambda m: shown_text(m) == "Button main short")
    assert shown["view"] == "main"

    await glasses.send(
        {
            "type": "local_transcription",
            "text": "hello world",
            "isFinal": True,
            "transcribeLanguage": "en-US",
            "startTime": 0,
            "endTime": 1200,
        }
    )
    heard = await sdk_app.wait_for("transcription")
    assert heard["data"]["text"] == "hello world"
    assert heard["data"]["isFinal"] is True
    await glasses.wait_for("display_event", lambda m: shown_text(m) == "You said: hello world")

    # stop: the stop webhook reaches onStop, the glasses see the App stopped
    await glasses.send({"type": "stop_app", "packageName": PACKAGE})
    stopped = await sdk_app.wait_for("stop")
    assert stopped["reason"] == "user_disabled"
    assert stopped["sessionId"] == f"{USER}-{PACKAGE}"
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    assert server.registry.get(USER).app_state(PACKAGE) is None
    assert server.metrics.total("app_errors") == 0
    await glasses.close()


async def test_sdk_app_is_told_when_the_user_session_ends(server, http, sdk_app):
    glasses = await start_through_glasses(server, http)
    await sdk_app.wait_for("session")
    await glasses.close()  # the glasses do not come back within the grace period
    disconnected = await sdk_app.wait_for("disconnected", timeout=10)
    assert "User session ended" in str(disconnected)
    stop = await sdk_app.wait_for("stop", timeout=10)
    assert "User session ended" in stop["reason"]
    assert server.registry.get(USER) is None
    assert server.metrics.get("app_restarts") == 0
