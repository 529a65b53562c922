"""Conformance: location, camera streaming and translation with the real, unmodified
`@mentra/sdk@2.1.29`: each round trip, its timeout and its permission refusal, as the SDK
surfaces them to the App (a resolved or rejected promise, an `error` or `permission_error`
event, a stream status)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from glasscloud.server.app import GlasscloudServer
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_app import PACKAGE, free_port, start_through_glasses
from tests.support.clients import FrameInbox
from tests.support.servers import FAST, serving

RTMP_URL = "rtmp://127.0.0.1:1935/live/conformance"
PROVIDER = "tests.support.translation:WordTableProvider"
TIMINGS = dataclasses.replace(
    FAST, location_poll_timeout=1.0, rtmp_keepalive_interval=0.3, rtmp_max_missed_acks=2
)

Rig = Callable[..., Awaitable[tuple[FrameInbox, SdkApp]]]


@pytest.fixture
async def rig(tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Rig]:
    """`await rig(env, permissions, translation=False)`: a server (fast timings; the
    word-table translation provider when asked), the SDK App registered with those
    permissions and started through a test glasses client."""
    servers: list = []
    apps: list[SdkApp] = []
    glasses_list: list[FrameInbox] = []

    async def make(
        env: dict[str, str], permissions: tuple[str, ...], translation: bool = False
    ) -> tuple[FrameInbox, SdkApp]:
        ensure_installed()
        overrides = {"timings": TIMINGS}
        if translation:
            overrides["translation_provider"] = PROVIDER
        context = serving(tmp_path, **overrides)
        server: GlasscloudServer = await context.__aenter__()
        servers.append(context)
        port = free_port()
        _, key = await server.store.create_app(
            PACKAGE,
            "SDK conformance",
            f"http://127.0.0.1:{port}",
            app_type="standard",
            permissions=permissions,
        )
        app = SdkApp(extra_env=env)
        apps.append(app)
        await app.start(PACKAGE, key, port)
        glasses = await start_through_glasses(server, http)
        glasses_list.append(glasses)
        await app.wait_for("session")
        return glasses, app

    yield make
    for glasses in glasses_list:
        await glasses.close()
    for app in apps:
        await app.stop()
    for context in servers:
        await context.__aexit__(None, None, None)


def error_with(app: SdkApp, *words: str) -> Callable[[dict], bool]:
    return lambda ev: all(w in ev["error"].get("message", "") for w in words)


def denies(stream: str, permission: str | None = None) -> Callable[[dict], bool]:
    """A `permission_error` event listing `stream` (needing `permission`)."""
    return lambda ev: any(
        d["stream"] == stream and permission in (None, d["requiredPermission"])
        for d in ev["data"]["details"]
    )


# ---- location ---------------------------------------------------------------------------


async def test_location_stream_asks_the_phone_for_a_tier_and_delivers_fixes(rig):
    glasses, app = await rig({"LOCATION_STREAM": "high"}, ("LOCATION",))
    # 2.1.29 drops the accuracy the App passed: the stated default tier is asked for
    tier = await glasses.wait_for("set_location_tier")
    assert tier["tier"] == "standard"
    await glasses.send({"type": "location_update", "lat": 52.52, "lng": 13.405, "accuracy": 5})
    fix = await app.wait_for("location")
    assert (fix["data"]["lat"], fix["data"]["lng"]) == (52.52, 13.405)


async def test_latest_location_is_asked_of_the_phone_and_its_answer_resolves_the_promise(rig):
    glasses, app = await rig({"LOCATION_POLL": "high"}, ("LOCATION",))
    ask = await glasses.wait_for("request_single_location")
    assert ask["accuracy"] == "high" and ask["correlationId"].startswith("poll_")
    await glasses.send(
        {"type": "location_update", "lat": 1.5, "lng": 2.5, "correlationId": ask["correlationId"]}
    )
    answer = await app.wait_for("location_poll")
    assert answer["data"]["correlationId"] == ask["correlationId"]
    assert (answer["data"]["lat"], answer["data"]["lng"]) == (1.5, 2.5)


async def test_latest_location_without_an_answer_is_an_error_then_the_sdk_rejects(rig):
    glasses, app = await rig({"LOCATION_POLL": "standard"}, ("LOCATION",))
    ask = await glasses.wait_for("request_single_location")
    error = await app.wait_for(
        "error", error_with(app, "location_poll_request", ask["correlationId"]), timeout=5
    )
    assert "no fix within 1 s" in error["error"]["message"]
    rejected = await app.wait_for("location_poll_error", timeout=20)  # the SDK's own 15 s
    assert "timed out" in rejected["error"]["message"]


async def test_location_without_the_permission_is_refused_where_the_sdk_shows_it(rig):
    glasses, app = await rig({"LOCATION_POLL": "high", "LOCATION_STREAM": "high"}, ())
    refused = await app.wait_for("permission_error", denies("location_update"))
    assert denies("location_update", "LOCATION")(refused)
    error = await app.wait_for("error", error_with(app, "location_poll_request", "LOCATION"))
    assert "getLatestLocation" in error["error"]["message"]
    assert glasses.of_type("request_single_location") == []
    assert glasses.of_type("set_location_tier") == []


# ---- camera streaming -------------------------------------------------------------------


async def test_rtmp_stream_start_status_and_stop_round_trip(rig):
    glasses, app = await rig({"RTMP_URL": RTMP_URL, "RTMP_STOP_ON": "streaming"}, ("CAMERA",))
    start = await glasses.wait_for("start_rtmp_stream")
    assert start["rtmpUrl"] == RTMP_URL and start["appId"] == PACKAGE
    await app.wait_for("rtmp_started")
    first = await app.wait_for("rtmp_status")
    assert first["data"]["status"] == "initializing"
    ping = await glasses.wait_for("keep_rtmp_stream_alive")
    assert ping["streamId"] == start["streamId"]
    await glasses.send(
        {"type": "keep_alive_ack", "streamId": ping["streamId"], "ackId": ping["ackId"]}
    )
    await glasses.send(
        {"type": "rtmp_stream_status", "streamId": start["streamId"], "status": "streaming"}
    )
    streaming = await app.wait_for("rtmp_status", lambda ev: ev["data"]["status"] == "streaming")
    assert streaming["data"]["streamId"] == start["streamId"]
    stop = await glasses.wait_for("stop_rtmp_stream")  # the App called camera.stopStream()
    assert stop["streamId"] == start["streamId"]
    await app.wait_for("rtmp_status", lambda ev: ev["data"]["status"] == "stopped")


async def test_rtmp_stream_whose_glasses_stop_answering_times_out(rig):
    glasses, app = await rig({"RTMP_URL": RTMP_URL}, ("CAMERA",))
    await glasses.wait_for("start_rtmp_stream")
    timed_out = await app.wait_for(
        "rtmp_status", lambda ev: ev["data"]["status"] == "timeout", timeout=5
    )
    assert "keep-alives" in timed_out["data"]["errorDetails"]
    await glasses.wait_for("stop_rtmp_stream")


async def test_rtmp_stream_stops_when_its_app_stops(rig):
    glasses, app = await rig({"RTMP_URL": RTMP_URL}, ("CAMERA",))
    start = await glasses.wait_for("start_rtmp_stream")
    await glasses.send({"type": "stop_app", "packageName": PACKAGE})
    await app.wait_for("stop")
    stop = await glasses.wait_for("stop_rtmp_stream")
    assert stop["streamId"] == start["streamId"] and stop["appId"] == PACKAGE


async def test_rtmp_stream_without_the_camera_permission_is_refused(rig):
    glasses, app = await rig({"RTMP_URL": RTMP_URL}, ())
    error = await app.wait_for("error", error_with(app, "rtmp_stream_request", "CAMERA"))
    assert "startStream" in error["error"]["message"]
    status = await app.wait_for("rtmp_status")
    assert status["data"]["status"] == "error"
    assert glasses.of_type("start_rtmp_stream") == []


# ---- translation ------------------------------------------------------------------------


async def test_translation_of_finals_reaches_the_sdk_handler(rig):
    glasses, app = await rig({"TRANSLATION": "es-ES:en-US"}, ("MICROPHONE",), translation=True)
    await glasses.wait_for(
        "app_state_change",
        lambda m: (
            "translation:es-ES-to-en-US" in m["userSession"]["appSubscriptions"].get(PACKAGE, [])
        ),
    )
    for text, final in (("hola", False), ("hola mundo", True)):
        await glasses.send(
            {
                "type": "local_transcription",
                "text": text,
                "isFinal": final,
                "transcribeLanguage": "es-ES",
                "startTime": 0,
                "endTime": 900,
            }
        )
    heard = await app.wait_for("translation")
    assert heard["data"]["text"] == "hello world"
    assert heard["data"]["originalText"] == "hola mundo"
    assert heard["data"]["translateLanguage"] == "en-US" and heard["data"]["isFinal"] is True
    assert len(app.events_named("translation")) == 1  # the interim was not translated


async def test_translation_without_a_provider_is_an_error_naming_the_stream(rig):
    _glasses, app = await rig({"TRANSLATION": "es-ES:en-US"}, ("MICROPHONE",))
    error = await app.wait_for("error", error_with(app, "translation:es-ES-to-en-US"))
    assert "no translation provider is configured" in error["error"]["message"]


async def test_translation_without_the_microphone_permission_is_refused(rig):
    _glasses, app = await rig({"TRANSLATION": "es-ES:en-US"}, (), translation=True)
    refused = await app.wait_for("permission_error", denies("translation:es-ES-to-en-US"))
    assert denies("translation:es-ES-to-en-US", "MICROPHONE")(refused)
