"""A glasses blip: the phone's socket dies without a close frame and the glasses reconnect
within the grace period. The App notices nothing; the user sees the App's view again at
once, and events and displays flow both ways as before."""

from __future__ import annotations

from tests.conformance.restart_rig import frames, press, said
from tests.conformance.test_sdk_app import PACKAGE, USER, shown_text
from tests.conformance.test_sdk_faults import subscribed
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.servers import token_for, ws_base
from tests.support.tcp_gate import TcpGate


def shown(text: str):
    return lambda m: m.get("packageName") == PACKAGE and shown_text(m) == text


async def expect_display(inbox: FrameInbox, text: str, why: str, timeout: float = 5.0) -> None:
    try:
        await inbox.wait_for("display_event", shown(text), timeout)
    except AssertionError:
        raise AssertionError(
            f"{inbox.name}: no display_event {text!r} within {timeout} s ({why}); got:\n"
            f"{frames(inbox)}"
        ) from None


async def test_glasses_blip_within_grace_shows_the_app_again_and_traffic_resumes(
    server, http, make_sdk_app
):
    sdk_app = await make_sdk_app()
    gate = await TcpGate(server.port).start()
    token = token_for(server, USER)
    try:
        glasses = await connect_glasses(http, f"ws://127.0.0.1:{gate.port}", token, "glasses")
        await glasses.wait_for("connection_ack")
        await glasses.send({"type": "start_app", "packageName": PACKAGE})
        await sdk_app.wait_for("session", timeout=15)
        await glasses.wait_for("app_state_change", subscribed, timeout=10)
        await glasses.send(said("before the blip"))
        await sdk_app.wait_for("transcription")
        await expect_display(glasses, "You said: before the blip", "before the blip")

        assert gate.sever() == 2  # both ends reset: no close frame, the server sees 1006
        await glasses.wait_closed()
        again = await connect_glasses(http, ws_base(server), token, "glasses-again")
        ack = await again.wait_for("connection_ack")
        assert PACKAGE in ack["userSession"]["activeAppSessions"], frames(again)

        await expect_display(again, "You said: before the blip", "the App's view shown again")
        await again.send(press())
        pressed = await sdk_app.wait_for("button_press", timeout=5)
        assert pressed["data"]["buttonId"] == "main"
        await expect_display(again, "Button main short", "a display after the blip")
        await again.send(said("after the blip"))
        heard = await sdk_app.wait_for("transcription", timeout=5)
        assert heard["data"]["text"] == "after the blip"
        await expect_display(again, "You said: after the blip", "a caption after the blip")

        assert not sdk_app.events_named("disconnected"), sdk_app.events
        assert not sdk_app.events_named("stop"), sdk_app.events
        assert len(sdk_app.events_named("session")) == 1
        await again.close()
    finally:
        await gate.close()
