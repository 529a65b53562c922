"""A glasscloud restart (`SIGTERM`, or `kill -9`) with a running SDK App and a user reading
captions: whichever of the App (the SDK reconnects on its own: 1 s, 2 s, 4 s after the
close) and the glasses reaches the new server first, the user ends up seeing the same thing:
the App running, its last view, and everything it draws from then on.

Real `glasscloud serve` processes on one port and SQLite file, the real SDK App; the App's
path to the server goes through a gate (restart_rig.py) so the ordering is chosen, not raced.
"""

from __future__ import annotations

import asyncio
import contextlib

from tests.conformance.restart_rig import (
    DISPLAY_REJECTED,
    PACKAGE,
    Rig,
    app_running_changes,
    expect,
    on_dashboard,
    press,
    said,
    shown,
)

RESTART_TIMEOUT = 15.0  # the SDK's three reconnects are 1 s, 2 s and 4 s apart


def is_running_change(message: dict) -> bool:
    return message.get("packageName") == PACKAGE and message.get("state") == "running"


def lists_app(message: dict) -> bool:
    us = message.get("userSession") or {}
    return PACKAGE in (us.get("activeAppSessions") or []) + (us.get("loadingApps") or [])


async def captions_running(rig: Rig, text: str = "before the restart"):
    """Glasses connected, the App started from them, one caption read: the App's last main
    view is `You said: <text>`."""
    glasses = await rig.glasses()
    await rig.start_app(glasses)
    await glasses.send(said(text))
    await rig.sdk.wait_for("transcription", lambda e: e["data"]["text"] == text)
    await expect(rig, glasses, "display_event", shown(f"You said: {text}"), 5, "caption shown")
    return glasses


async def app_reconnects_first(rig: Rig, *, kill: bool = False):
    """Restart; wait until the SDK's own reconnect is accepted; only then the glasses."""
    await rig.restart(kill=kill)
    await rig.sdk.wait_for("connected", timeout=RESTART_TIMEOUT)
    return await rig.glasses("glasses-after-restart")


# ---- 1. the App is back before the glasses -----------------------------------------------


async def test_app_back_before_glasses_after_sigterm_draws_on_them(make_rig):
    rig = await make_rig()
    glasses = await captions_running(rig)

    again = await app_reconnects_first(rig)
    assert await glasses.wait_closed() == 1012

    await again.send(press())
    await rig.sdk.wait_for("button_press", timeout=5)
    await expect(
        rig,
        again,
        "display_event",
        shown("Button main short"),
        5,
        "the App's display_event after its own reconnect must reach the glasses",
    )
    await again.send(said("after the restart"))
    await rig.sdk.wait_for("transcription", lambda e: e["data"]["text"] == "after the restart")
    await expect(rig, again, "display_event", shown("You said: after the restart"), 5, "caption")
    assert not rig.log_records(DISPLAY_REJECTED), rig.report(again)
    assert len(rig.sdk.events_named("session")) == 1, "the SDK session carried on (no webhook)"


async def test_app_back_before_glasses_after_sigterm_its_last_view_and_dashboard_are_shown(
    make_rig,
):
    rig = await make_rig({"DASHBOARD_TEXT": "Captions: live"})
    glasses = await captions_running(rig)
    await expect(rig, glasses, "display_event", on_dashboard("Captions: live"), 5, "dashboard")

    again = await app_reconnects_first(rig)

    # Nothing new happens: what the user saw before the restart must come back by itself.
    await expect(
        rig,
        again,
        "display_event",
        shown("You said: before the restart"),
        5,
        "the App's last main view shown again after the restart",
    )
    await expect(
        rig,
        again,
        "display_event",
        on_dashboard("Captions: live"),
        5,
        "the App's dashboard item shown again after the restart",
    )


async def test_app_back_before_glasses_after_sigterm_glasses_told_once_that_it_runs(make_rig):
    rig = await make_rig()
    await captions_running(rig)

    again = await app_reconnects_first(rig)
    ack = again.of_type("connection_ack")[0]
    assert lists_app(ack), f"the App vanished from the connection_ack\n{rig.report(again)}"
    await expect(
        rig,
        again,
        "app_state_change",
        is_running_change,
        5,
        "the returning glasses are told, once, that the App runs",
    )
    # a round trip through the App: a second announcement would have arrived by now
    await again.send(said("after the restart"))
    await rig.sdk.wait_for("transcription", lambda e: e["data"]["text"] == "after the restart")
    vanished = [m for m in again.of_type("app_state_change") if not lists_app(m)]
    assert not vanished, f"the App disappeared from the user's session\n{rig.report(again)}"
    running = app_running_changes(again)
    assert len(running) == 1, (
        f"expected exactly one app_state_change {PACKAGE} -> running for the recovery, got "
        f"{len(running)}\n{rig.report(again)}"
    )


# ---- 2. the glasses are back before the App ----------------------------------------------


async def test_glasses_back_before_app_after_sigterm_app_restarted_and_draws(
    make_rig, record_property
):
    rig = await make_rig()
    await captions_running(rig)

    rig.gate.refusing = True  # the SDK's own reconnects are turned away until the glasses are in
    await rig.restart()
    # Right after a refused attempt, the SDK's next one is >= 2 s away: ample for the glasses.
    await rig.gate.wait_refused(rig.gate.refused + 1, timeout=RESTART_TIMEOUT)
    rig.gate.refusing = False
    again = await rig.glasses("glasses-after-restart")

    await expect(
        rig,
        again,
        "app_state_change",
        is_running_change,
        15,
        "the App is restarted for the returning glasses",
    )
    await expect(
        rig,
        again,
        "display_event",
        lambda m: m.get("packageName") == PACKAGE,
        10,
        "the App draws on the glasses after the restart",
    )
    # The display seen may be the App's last view restored by the server before the SDK's
    # new onSession has put its handlers in place: press until the App hears one.
    for _ in range(20):
        await again.send(press())
        try:
            await rig.sdk.wait_for("button_press", timeout=0.5)
            break
        except AssertionError:
            continue
    else:
        print(rig.report(again))
        raise AssertionError("the App never heard a button press after the restart")
    await expect(rig, again, "display_event", shown("Button main short"), 5, "after a press")

    on_session = len(rig.sdk.events_named("session"))
    record_property("onSession_runs", on_session)
    print(f"onSession ran {on_session} time(s) with the glasses back first")
    assert not rig.log_records(DISPLAY_REJECTED), rig.report(again)
    running = app_running_changes(again)
    assert len(running) == 1, f"{len(running)} x running\n{rig.report(again)}"


# ---- 4. kill -9 in the middle of the traffic ---------------------------------------------


async def test_kill9_mid_traffic_app_back_first_displays_reach_the_glasses_again(make_rig):
    rig = await make_rig()
    glasses = await captions_running(rig, "warming up")

    async def traffic() -> None:
        with contextlib.suppress(Exception):
            for i in range(500):  # bounded; ends at the kill (the socket is reset)
                await glasses.send(said(f"line {i}"))
                if i % 4 == 0:
                    await glasses.send(press())
                await asyncio.sleep(0.02)  # pacing, not synchronisation

    task = asyncio.create_task(traffic())
    try:
        for _ in range(3):  # mid-traffic: the App is drawing caption after caption
            await expect(
                rig,
                glasses,
                "display_event",
                lambda m: str((m.get("layout") or {}).get("text", "")).startswith("You said: line"),
                5,
                "captions flowing before the kill",
            )
        again = await app_reconnects_first(rig, kill=True)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    await again.send(press("main", "long"))
    await rig.sdk.wait_for("button_press", lambda e: e["data"]["pressType"] == "long", 5)
    await expect(
        rig,
        again,
        "display_event",
        shown("Button main long"),
        5,
        "the App's display reaches the glasses after kill -9 and restart",
    )
