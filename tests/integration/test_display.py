"""Display arbitration over real sockets: throttled bursts, two Apps competing, the boot
screen, and an App stopping while its content is shown."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from glasscloud.server.app import GlasscloudServer
from tests.support.clients import FrameInbox
from tests.support.display_rig import is_clear
from tests.support.scenarios import glasses_for, register_app, start_and_wait
from tests.support.servers import FAST, serving

USER = "dee@example.com"
DASH = "system.augmentos.dashboard"
TIMINGS = dataclasses.replace(
    FAST, boot_duration=1.0, display_throttle=0.3, display_lock_inactive=0.6
)
GAP = TIMINGS.display_throttle


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[GlasscloudServer]:
    """The shared server, with display timings short enough to test on real sockets."""
    async with serving(tmp_path, timings=TIMINGS) as running:
        yield running
SLACK = 0.05  # receive-side jitter on loopback


def text_of(message: dict) -> str | None:
    return message.get("layout", {}).get("text")


async def display(app, text: str, **extra) -> None:
    await app.inboxes[USER].send(
        {
            "type": "display_event",
            "view": "main",
            "layout": {"layoutType": "text_wall", "text": text},
            **extra,
        }
    )


async def shown(glasses: FrameInbox, text: str, timeout: float = 5.0) -> float:
    """Wait until the glasses get `text` on the main view; the arrival time."""
    await glasses.wait_for(
        "display_event", lambda m: m["view"] == "main" and text_of(m) == text, timeout
    )
    return asyncio.get_running_loop().time()


async def booted(glasses: FrameInbox) -> None:
    """The boot screen came and went (cleared), and the throttle window has passed."""
    await glasses.wait_for(
        "display_event", lambda m: "Starting App" in m["layout"].get("title", "")
    )
    await glasses.wait_for("display_event", is_clear)
    await asyncio.sleep(GAP + SLACK)


async def test_burst_from_one_app_sends_first_and_last_spaced_by_the_throttle(server, http):
    app = await register_app(server, http)
    glasses = await glasses_for(server, http, USER)
    await start_and_wait(glasses, app.package)
    await booted(glasses)
    for i in range(10):
        await display(app, f"burst {i}")
    first = await shown(glasses, "burst 0")
    last = await shown(glasses, "burst 9")
    assert last - first >= GAP - SLACK
    await asyncio.sleep(GAP + SLACK)
    texts = [text_of(m) for m in glasses.of_type("display_event") if m["view"] == "main"]
    assert [t for t in texts if t and t.startswith("burst")] == ["burst 0", "burst 9"]
    await glasses.close()
    await app.stop()


async def test_two_apps_compete_by_the_lock_rules(server, http):
    main = await register_app(server, http, "com.example.main", app_type="standard")
    bg = await register_app(server, http, "com.example.bg", app_type="background")
    glasses = await glasses_for(server, http, USER)
    await start_and_wait(glasses, main.package)
    await start_and_wait(glasses, bg.package)
    await booted(glasses)
    await display(main, "M1")
    t_m1 = await shown(glasses, "M1")
    await display(bg, "B1")  # takes the background lock; waits for the throttle window
    t_b1 = await shown(glasses, "B1")
    assert t_b1 - t_m1 >= GAP - SLACK
    await display(main, "M2")  # blocked while the background App holds the lock
    t_m2 = await shown(glasses, "M2")  # ...which lapses after 0.6 s without redraws
    assert t_m2 - t_b1 >= TIMINGS.display_lock_inactive - SLACK
    frames = [m for m in glasses.of_type("display_event") if m["view"] == "main"]
    senders = [(m["packageName"], text_of(m)) for m in frames if m["packageName"] != DASH]
    assert senders == [(main.package, "M1"), (bg.package, "B1"), (main.package, "M2")]
    await glasses.close()
    await main.stop()
    await bg.stop()


async def test_boot_screen_then_the_held_content(server, http):
    app = await register_app(server, http)
    glasses = await glasses_for(server, http, USER)
    await start_and_wait(glasses, app.package)
    await display(app, "held during boot", durationMs=60000)
    await shown(glasses, "held during boot")
    frames = [m for m in glasses.of_type("display_event") if m["view"] == "main"]
    assert "Starting App" in frames[0]["layout"]["title"]
    assert frames[0]["layout"]["text"] == app.package.rsplit(".", 1)[-1]
    assert frames[-1]["packageName"] == app.package
    assert frames[-1]["durationMs"] == 60000
    assert not any(is_clear(m) for m in frames)  # no blank flash between boot and content
    await glasses.close()
    await app.stop()


async def test_app_stopping_while_shown_is_cleared(server, http):
    app = await register_app(server, http)
    glasses = await glasses_for(server, http, USER)
    await start_and_wait(glasses, app.package)
    await booted(glasses)
    await display(app, "goodbye soon")
    await shown(glasses, "goodbye soon")
    await glasses.send({"type": "stop_app", "packageName": app.package})
    await glasses.wait_for("display_event", is_clear)
    await asyncio.sleep(GAP + SLACK)
    frames = [m for m in glasses.of_type("display_event") if m["view"] == "main"]
    assert is_clear(frames[-1])
    assert [text_of(m) for m in frames].count("goodbye soon") == 1
    await glasses.close()
    await app.stop()
