"""A user's stop is final: an App stopped by the user (from the glasses, or `POST
/apps/{pkg}/stop`) stays stopped across a server restart, whether the glasses come back first
or the SDK reconnects first (the SDK can only try that while it still holds the session, i.e.
while the stop is in flight: the App is still in its onStop). And a stop the REST API has
acknowledged survives a crash right after."""

from __future__ import annotations

import pytest

from tests.conformance.restart_rig import (
    PACKAGE,
    Rig,
    assert_quiet,
    expect,
)
from tests.support.clients import FrameInbox

QUIET = 2.0  # how long "nothing about the App" must hold after the glasses are back


def lists_app(message: dict) -> bool:
    """A connection_ack/app_state_change whose userSession has the App active or loading."""
    us = message.get("userSession") or {}
    return PACKAGE in (us.get("activeAppSessions") or []) + (us.get("loadingApps") or [])


def app_back(message: dict) -> bool:
    """Any sign of the App on the glasses: loading/running, or one of its displays."""
    if message.get("type") == "app_state_change":
        announced = message.get("packageName") == PACKAGE and message.get("state") != "stopped"
        return announced or lists_app(message)
    return message.get("type") == "display_event" and message.get("packageName") == PACKAGE


async def assert_stays_stopped(rig: Rig, again: FrameInbox) -> None:
    ack = again.of_type("connection_ack")[0]
    assert not lists_app(ack), (
        f"the stopped App is listed in the connection_ack\n{rig.report(again)}"
    )
    await assert_quiet(rig, again, app_back, QUIET, "a user-stopped App came back")
    async with rig.http.get(
        rig.server.http_base + "/apps", headers={"Authorization": f"Bearer {rig.token}"}
    ) as resp:
        listed = {a["packageName"]: a for a in (await resp.json())["data"]}
    assert listed[PACKAGE]["state"] == "stopped", listed[PACKAGE]
    assert not rig.sdk.events_named("connected"), f"the SDK got back in\n{rig.report(again)}"
    assert len(rig.sdk.events_named("session")) == 1, f"restarted by webhook\n{rig.report(again)}"


async def test_app_stopped_from_glasses_stays_stopped_after_sigterm_glasses_back_first(make_rig):
    rig = await make_rig()
    glasses = await rig.glasses()
    await rig.start_app(glasses)
    await glasses.send({"type": "stop_app", "packageName": PACKAGE})
    await rig.sdk.wait_for("stop", timeout=5)
    await expect(
        rig,
        glasses,
        "app_state_change",
        lambda m: m.get("packageName") == PACKAGE and m.get("state") == "stopped",
        5,
        "stopped",
    )

    await rig.restart()
    await assert_stays_stopped(rig, await rig.glasses("glasses-after-restart"))


async def sdk_reconnect_refused(rig: Rig) -> None:
    """The SDK's own reconnect reaches the new server, which turns it away: the server
    closes the socket (today 1008 after a tpa_connection_error; 1000 "App stopped" would do
    too), where a network failure would be 1006."""
    forwarded = rig.gate.forwarded
    try:
        await rig.sdk.wait_for(
            "disconnected",
            lambda e: (e.get("info") or {}).get("code") not in (1006, None),
            timeout=10,
        )
    except AssertionError as error:
        raise AssertionError(
            f"the SDK's reconnect was not refused (App connections forwarded by the gate "
            f"since: {rig.gate.forwarded - forwarded})\n{error}"
        ) from None


@pytest.mark.parametrize("first", ["sdk_first", "glasses_first"])
async def test_app_stopped_by_rest_stays_stopped_when_the_server_dies_during_its_stop(
    make_rig, first
):
    # The App is still in onStop (flushing, 6 s) when the server is killed: its socket is
    # reset and the SDK, still holding the session, reconnects on its own (1 s, then 2 s
    # later). The gate decides whether that reconnect or the glasses meet the new server first.
    rig = await make_rig({"STOP_DELAY_MS": "6000"})
    glasses = await rig.glasses()
    await rig.start_app(glasses)
    async with rig.http.post(
        rig.server.http_base + f"/apps/{PACKAGE}/stop",
        headers={"Authorization": f"Bearer {rig.token}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    await rig.sdk.wait_for("stop", timeout=5)
    # the stop is on disk (see the next test for a kill before that): what is tested here is
    # only whether the SDK's reconnect can undo it
    await rig.wait_persisted_stopped()

    rig.gate.refusing = True  # no App connection reaches a server until we say so
    await rig.restart(kill=True)
    if first == "sdk_first":
        rig.gate.refusing = False
        await sdk_reconnect_refused(rig)
        again = await rig.glasses("glasses-after-restart")
    else:
        again = await rig.glasses("glasses-after-restart")
        rig.gate.refusing = False
        await sdk_reconnect_refused(rig)
    await assert_stays_stopped(rig, again)


async def test_app_stop_acknowledged_by_rest_survives_an_immediate_kill9(make_rig):
    # `POST /apps/{pkg}/stop` answered 200 "stopped": the user was told it is stopped, so a
    # crash right after that must not bring it back.
    rig = await make_rig()
    glasses = await rig.glasses()
    await rig.start_app(glasses)
    async with rig.http.post(
        rig.server.http_base + f"/apps/{PACKAGE}/stop",
        headers={"Authorization": f"Bearer {rig.token}"},
    ) as resp:
        assert resp.status == 200, await resp.text()
    await rig.restart(kill=True)
    persisted = await rig.persisted_running_apps()  # before the glasses: for the message only
    try:
        await assert_stays_stopped(rig, await rig.glasses("glasses-after-restart"))
    except AssertionError as error:
        raise AssertionError(
            f"{error}\n  after the kill the database listed as running: {persisted}"
        ) from None
