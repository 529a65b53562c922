"""An App that cleans up inside onStop, as published captions Apps do (it removes its
handlers, so the SDK sends `subscription_update`s, before `super.onStop`), is being stopped
normally: it must get no error frame for that, and the SDK must log no ERROR."""

from __future__ import annotations

import asyncio

from glasscloud.server.app import GlasscloudServer
from tests.conformance.test_sdk_app import PACKAGE, shown_text, start_through_glasses


async def app_socket_gone(server: GlasscloudServer, timeout: float = 5.0) -> None:
    """Until the server has closed the App's socket (bounded polling)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(c.stats.package_name == PACKAGE for c in server.connections):
        assert loop.time() < deadline, "the App's socket is still open after the stop"
        await asyncio.sleep(0.05)


async def test_app_unsubscribing_in_onstop_gets_no_error_frame(server, http, make_sdk_app):
    # it cleans up, then takes a moment (saving its transcript) before super.onStop
    tidy_app = await make_sdk_app({"ONSTOP_CLEANUP": "1", "ONSTOP_SETTLE_MS": "300"})
    glasses = await start_through_glasses(server, http)
    await tidy_app.wait_for("session")
    # everything onSession sent has been handled: both subscriptions and the first view
    await glasses.wait_for(
        "app_state_change",
        lambda m: (
            set(m["userSession"]["appSubscriptions"].get(PACKAGE, []))
            == {"transcription:en-US", "button_press"}
        ),
        timeout=10,
    )
    await glasses.wait_for("display_event", lambda m: shown_text(m) == "SDK app ready")

    await glasses.send({"type": "stop_app", "packageName": PACKAGE})
    await tidy_app.wait_for("stop")
    cleanup = await tidy_app.wait_for("cleanup", timeout=5)
    assert cleanup["removed"] == 2  # two handlers removed: two subscription_updates sent
    await tidy_app.wait_for("stop_done", timeout=5)
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "stopped")
    await app_socket_gone(server)

    errors = tidy_app.events_named("error")
    # the SDK's own log (pino): "ERROR: ❌ [Session <id>] Error:" followed by the message
    sdk_error_logs = [
        line
        for line in tidy_app.output
        if not line.startswith('{"event":') and ("ERROR" in line or "is being stopped" in line)
    ]
    assert not errors and not sdk_error_logs, (
        "the App got an error frame for unsubscribing while being stopped:\n"
        + "\n".join(f"  event {e}" for e in errors)
        + "\n"
        + "\n".join(f"  log   {line[:200]}" for line in sdk_error_logs)
    )
    assert server.metrics.get("app_errors", code="APP_NOT_RUNNING") == 0
    assert server.metrics.total("app_errors") == 0
    await glasses.close()
