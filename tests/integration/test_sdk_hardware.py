"""The Python SDK's location, camera-stream and translation calls against a real glasscloud,
with the terminal glasses simulator playing the phone (it answers location requests with
`location LAT LNG` and reports stream statuses with `rtmp STATUS`)."""

from __future__ import annotations

import asyncio
import dataclasses

from glasscloud.sdk import AppServer, AppSession, CloudError, Location, SdkError
from tests.integration.test_sdk_examples import USER, serve, simulator, until
from tests.support.scenarios import glasses_for
from tests.support.servers import FAST, serving

PACKAGE = "com.example.hardware"
URL = "rtmp://127.0.0.1:1935/live/sim"


async def test_python_sdk_location_stream_and_translation_with_the_simulator(server, http):
    app = AppServer(PACKAGE, "not-yet", port=0, host="127.0.0.1")
    fixes: list[Location] = []
    polled: list[Location] = []
    statuses: list[str] = []
    errors: list[CloudError] = []

    @app.on_session
    async def on_session(session: AppSession) -> None:
        session.events.on_error(errors.append)
        session.camera.on_stream_status(lambda s: statuses.append(s["status"]))
        session.events.on_translation("es-ES", "en-US", lambda t: None)
        polled.append(await session.location.get_latest_location(accuracy="realtime"))
        session.location.subscribe_to_stream(fixes.append, accuracy="high")
        session.camera.start_stream(URL, video={"width": 1280})
        await until(lambda: "streaming" in statuses)
        session.camera.stop_stream()

    await serve(server, app, ("LOCATION", "CAMERA", "MICROPHONE"))
    out: list[str] = []
    sim, typed, loop = await simulator(server, http, out)
    typed.type(f"start {PACKAGE}")
    await sim.wait_for_screen(lambda s: "location requested (realtime)" in s)
    typed.type("location 52.52 13.405")
    await until(lambda: bool(polled))
    assert (polled[0].lat, polled[0].lng) == (52.52, 13.405)
    await sim.wait_for_screen(lambda s: "location tier: high" in s)  # the rate is sent
    await sim.wait_for_screen(lambda s: f"RTMP start requested by {PACKAGE}: {URL}" in s)
    # the new stream subscriber got the (fresh) last fix at once, then the next one
    typed.type("location 1.5 2.5")
    await until(lambda: len(fixes) == 2)
    assert [(f.lat, f.lng) for f in fixes] == [(52.52, 13.405), (1.5, 2.5)]
    typed.type("rtmp streaming")
    await sim.wait_for_screen(lambda s: "RTMP stop requested" in s)
    await until(lambda: statuses[-1:] == ["stopped"])
    assert statuses[0] == "initializing" and "streaming" in statuses
    # no translation provider here: the subscription was refused naming the stream
    assert {e.code for e in errors} == {"TRANSLATION_UNAVAILABLE"}  # once per update
    assert "translation:es-ES-to-en-US" in str(errors[0])
    typed.type("quit")
    await asyncio.wait_for(loop, 5)
    await app.stop()


async def test_python_sdk_poll_refusals_and_timeout_raise_cloud_errors(tmp_path, http):
    timings = dataclasses.replace(FAST, location_poll_timeout=0.5)
    async with serving(tmp_path, timings=timings) as server:
        outcomes: list[BaseException] = []
        app = AppServer(PACKAGE, "not-yet", port=0, host="127.0.0.1")

        @app.on_session
        async def on_session(session: AppSession) -> None:
            for accuracy in ("high", "bogus"):
                try:
                    await session.location.get_latest_location(accuracy=accuracy, timeout=5)
                except (CloudError, ValueError, SdkError) as error:
                    outcomes.append(error)

        await serve(server, app, ("LOCATION",))
        glasses = await glasses_for(server, http, USER)
        await glasses.send({"type": "start_app", "packageName": PACKAGE})
        await glasses.wait_for("request_single_location")  # and no answer comes
        await until(lambda: len(outcomes) == 2)
        timeout, bad = outcomes
        assert isinstance(timeout, CloudError) and timeout.code == "LOCATION_UNAVAILABLE"
        assert "no fix within 0.5 s" in timeout.message
        assert "accuracy" in str(bad)  # refused before anything is sent
        await glasses.close()
        await app.stop()
