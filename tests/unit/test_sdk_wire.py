"""The Python SDK on the wire, against the frames the official @mentra/sdk 2.1.29 produced
(tests/fixtures/sdk-wire-capture-part1.txt, verbatim from reference/sdk-wire-capture.txt).

The capture's harness App is re-written on the Python SDK, a fake cloud replays the capture's
cloud frames in order, and every frame the Python App sends must equal the captured one
byte for byte (field order included) once timestamps, which differ by nature, are checked
for format and set aside."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from glasscloud.sdk import AppServer, AppSession, ReconnectPolicy, StreamPermissionError
from tests.support.fake_app_cloud import FakeAppCloud

CAPTURE = Path(__file__).parent.parent / "fixtures" / "sdk-wire-capture-part1.txt"
LINE = re.compile(r"conn#(\d) (APP->CLOUD|CLOUD->APP)\s+(.*)$")
TIMESTAMP = re.compile(r'"timestamp":"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"')
PACKAGE = "com.example.harness"
API_KEY = "harness-api-key-0123456789"
SESSION_ID = f"alice@example.com-{PACKAGE}"
# App -> cloud types of features the Python SDK does not offer (audio, camera, LED, ...).
NOT_IN_SDK = {
    "audio_play_request",
    "audio_stop_request",
    "rgb_led_control",
    "photo_request",
    "rtmp_stream_request",
    "rtmp_stream_stop",
    "stream_status_check",
    "location_poll_request",
    "request_wifi_setup",
    "app_broadcast_message",
}


def capture(conn: int) -> list[tuple[str, str]]:
    """(direction, frame text) of one captured connection, in order."""
    lines = []
    for line in CAPTURE.read_text().splitlines():
        match = LINE.search(line)
        if match and int(match.group(1)) == conn:
            lines.append((match.group(2), match.group(3)))
    return lines


def normalise(frame: str) -> str:
    """The frame with its timestamps replaced, after checking they look like the SDK's."""
    stamps = TIMESTAMP.findall(frame)
    assert stamps, f"no ISO timestamp in {frame[:120]}"
    return TIMESTAMP.sub('"timestamp":"T"', frame)


def ftype(frame: str) -> str:
    return json.loads(frame)["type"]


def dedupe_subscriptions(frames: list[str]) -> list[str]:
    """The official SDK sometimes re-sends an unchanged list (subscribeToGestures and
    friends); the Python SDK sends one per change. Keep the first of each run, except the
    pair right after the ack, which the Python SDK reproduces."""
    out: list[str] = []
    for frame in frames:
        if (
            len(out) > 2
            and ftype(frame) == "subscription_update"
            and ftype(out[-1]) == "subscription_update"
            and json.loads(frame)["subscriptions"] == json.loads(out[-1])["subscriptions"]
        ):
            continue
        out.append(frame)
    return out


class Harness:
    """The capture's test App (app-protocol.md §12), on the Python SDK."""

    def __init__(self, app: AppServer) -> None:
        self.session: AppSession | None = None
        self.calls: list[tuple[Any, ...]] = []
        self.stops: list[str] = []

        @app.on_session
        async def started(session: AppSession) -> None:
            self.session = session
            session.settings.on_mentraos_change(
                "metricSystemEnabled", lambda new, old: self.calls.append(("mentraos", new, old))
            )
            show = session.layouts.show_text_wall

            @session.events.on_transcription
            def heard(t):
                if t.is_final:
                    show(f"You said: {t.text}", duration_ms=5000)

            session.events.on_button_press(lambda p: show(f"Button {p.button_id} {p.press_type}"))
            session.events.on_error(lambda e: self.calls.append(("error", e)))
            session.settings.on_change(lambda changes: self.calls.append(("settings", changes)))
            session.dashboard.on_mode_change(lambda mode: self.calls.append(("mode", mode)))
            show("Harness app ready")

        @app.on_stop
        async def stopped(session: AppSession, reason: str) -> None:
            self.stops.append(reason)

    def streams_demo(self) -> None:
        assert self.session is not None
        events, show = self.session.events, self.session.layouts.show_text_wall
        events.on_head_position(lambda h: show(f"head {h.position}"))
        events.on_phone_notification(lambda n: show(f"notif {n.app}: {n.title}"))
        events.on_glasses_battery(lambda b: show(f"battery {b.level}"))
        events.on_voice_activity(lambda v: show(f"vad {str(v.speaking).lower()}"))
        events.on_touch_event(lambda t: show(f"touch {t.gesture}"), gesture="double_tap")
        events.on_transcription(
            lambda t: show(f"fr: {t.text}"),
            language="fr-FR",
            hints=["en", "de"],
            disable_language_identification=True,
        )
        events.on_translation("es-ES", "en-US", lambda t: show(f"tr: {t.text}"))
        events.on_location(lambda loc: show(f"loc {loc.lat},{loc.lng}"))

    def subscribe_audio(self) -> None:
        assert self.session is not None
        show = self.session.layouts.show_text_wall
        self.session.events.on_audio_chunk(lambda chunk: show(f"audio bytes: {len(chunk.data)}"))

    def layouts_demo(self, bitmap: str) -> None:
        assert self.session is not None
        layouts, dashboard = self.session.layouts, self.session.dashboard
        layouts.show_double_text_wall("Top text", "Bottom text")
        layouts.show_reference_card("Card title", "Card body", duration_ms=2000)
        layouts.show_dashboard_card("Left", "Right")
        layouts.show_text_wall("text on dashboard view", view="dashboard")
        layouts.clear_view()
        layouts.show_bitmap_animation(["Qk0=", "Qk0="], interval_ms=500, repeat=True)
        layouts.show_bitmap_view(bitmap)
        dashboard.write("dash main")
        dashboard.write("dash expanded", ["expanded"])
        dashboard.write("dash both", ["main", "expanded"])


class Sleeps:
    """An injected `sleep` that records the reconnect delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
async def rig():
    ack = next(text for d, text in capture(1) if d == "CLOUD->APP")
    assert ftype(ack) == "tpa_connection_ack"
    cloud = await FakeAppCloud(ack).start()
    sleeps = Sleeps()
    app = AppServer(
        PACKAGE, API_KEY, port=0, host="127.0.0.1", sleep=sleeps, reconnect=ReconnectPolicy()
    )
    harness = Harness(app)
    await app.start()
    async with aiohttp.ClientSession() as http:
        yield cloud, app, harness, http, sleeps
    await app.stop()
    await cloud.stop()


async def session_request(http: aiohttp.ClientSession, app: AppServer, url: str, **extra):
    body = {
        "type": "session_request",
        "sessionId": SESSION_ID,
        "userId": "alice@example.com",
        "timestamp": "2026-11-25T19:21:40.225Z",
        "mentraOSWebsocketUrl": url,
        **extra,
    }
    async with http.post(f"http://127.0.0.1:{app.port}/webhook", json=body) as response:
        return response.status, await response.json()


async def test_the_capture_replayed_gives_the_same_app_frames(rig):
    cloud, app, harness, http, _ = rig
    status, body = await session_request(http, app, cloud.url)
    assert (status, body) == (200, {"status": "success"})

    expected: list[str] = []
    bitmap = next(json.loads(t)["layout"]["data"] for _, t in capture(1) if "bitmap_view" in t)
    conn = await cloud.connection(0)
    for direction, text in capture(1):
        if direction == "APP->CLOUD":
            if ftype(text) in NOT_IN_SDK:
                break  # the rest of the capture exercises features the SDK does not have
            expected = dedupe_subscriptions([*expected, text])
            continue
        # Before each cloud frame, the App must have sent everything it sent by then.
        await cloud.frames(0, len(expected))
        if text.startswith("<binary frame"):
            size = int(re.search(r"(\d+) bytes", text).group(1))
            await conn.ws.send_bytes(b"\x01" * size)
            continue
        frame = json.loads(text)
        if frame["type"] == "tpa_connection_ack":
            continue  # the fake cloud answered the init with it already
        if frame["type"] == "custom_message":  # the harness's cues
            action = frame["action"]
            {
                "harness_streams_demo": harness.streams_demo,
                "harness_subscribe_audio": harness.subscribe_audio,
                "harness_demo": lambda: harness.layouts_demo(bitmap),
            }[action]()
            continue
        await conn.send(text)

    sent = await cloud.frames(0, len(expected))
    assert [normalise(f) for f in sent] == [normalise(f) for f in expected]
    assert len(expected) == 37  # init, 13 subscription updates, 20 displays, 3 dashboard

    # What the cloud's other frames did (they produce no App frames).
    await harness.session.drain()
    kinds = {call[0]: call for call in harness.calls}
    assert kinds["mentraos"] == ("mentraos", True, False)
    assert kinds["mode"] == ("mode", "expanded")
    assert [(c.key, c.old_value, c.new_value) for c in kinds["settings"][1]] == [
        ("greeting", "hello", "changed")
    ]
    error = kinds["error"][1]
    assert isinstance(error, StreamPermissionError)
    assert error.denied[0].stream == "location_update"
    assert error.denied[0].required_permission == "LOCATION"
    assert harness.session.capabilities["modelName"] == "Even Realities G1"
    assert harness.session.device_state == {"connected": True, "batteryLevel": 77}
    assert harness.session.settings.get("greeting") == "changed"
    assert harness.session.settings.get_mentraos("metricSystemEnabled") is True


async def test_reconnect_after_1011_resends_init_and_the_full_list(rig):
    cloud, app, harness, http, sleeps = rig
    await session_request(http, app, cloud.url)
    harness.streams_demo()
    harness.subscribe_audio()
    first = await cloud.connection(0)
    await cloud.wait(lambda: "audio_chunk" in first.frames[-1])

    await first.close(1011, "test abnormal close")
    second = await cloud.connection(1)
    sent = await cloud.frames(1, 2)
    captured = [text for d, text in capture(2) if d == "APP->CLOUD"][:2]
    assert [normalise(f) for f in sent] == [normalise(f) for f in captured]
    assert sleeps.delays == [1.0]

    # data flows on the new socket
    await second.send(
        next(t for d, t in capture(2) if d == "CLOUD->APP" and "after reconnect" in t)
    )
    display = await cloud.frames(1, 3)
    expected = next(t for d, t in capture(2) if d == "APP->CLOUD" and "display_event" in t)
    assert normalise(display[2]) == normalise(expected)

    # app_stopped + close(1000, "App stopped"): on_stop once, no reconnect
    await second.send({"type": "app_stopped"})
    await second.close(1000, "App stopped")
    assert await harness.session.wait_closed() == "App stopped"
    await harness.session.drain()
    assert harness.stops == ["App stopped"]
    assert len(cloud.connections) == 2
    assert app.sessions == {}


@pytest.mark.parametrize("code,reason", [(1001, ""), (1008, "bad"), (4000, "User session ended")])
async def test_final_closes_end_the_session_without_reconnecting(rig, code, reason):
    cloud, app, harness, http, sleeps = rig
    await session_request(http, app, cloud.url)
    conn = await cloud.connection(0)
    await conn.close(code, reason)
    assert await harness.session.wait_closed() == (reason or f"Connection closed (code {code})")
    assert harness.stops == [reason or f"Connection closed (code {code})"]
    assert sleeps.delays == []
    assert len(cloud.connections) == 1


async def test_reconnect_gives_up_after_three_attempts_with_backoff(rig):
    cloud, app, harness, http, sleeps = rig
    await session_request(http, app, cloud.url)
    conn = await cloud.connection(0)
    cloud.refuse_upgrades = True  # every reconnect attempt gets HTTP 401
    await conn.close(1011, "drop")
    reason = await harness.session.wait_closed()
    assert reason == "Connection permanently lost: Maximum reconnection attempts exceeded"
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert len(cloud.connections) == 4
    assert harness.stops == [reason]


async def test_a_refused_init_answers_the_webhook_500_at_once(rig):
    cloud, app, harness, http, _ = rig
    cloud.reject_init = {
        "type": "tpa_connection_error",
        "code": "INVALID_API_KEY",
        "message": "Invalid API key",
    }
    status, body = await session_request(http, app, cloud.url)
    assert (status, body) == (500, {"status": "error", "message": "Failed to connect"})
    assert harness.session is None and app.sessions == {}


async def test_errors_after_connecting_reach_on_error_with_code_and_field(rig):
    cloud, app, harness, http, _ = rig
    await session_request(http, app, cloud.url)
    conn = await cloud.connection(0)
    got: asyncio.Future = asyncio.get_running_loop().create_future()
    harness.session.events.on_error(lambda e: got.done() or got.set_result(e))
    await conn.send(
        {
            "type": "tpa_connection_error",
            "code": "INVALID_SUBSCRIPTION",
            "message": "'foo' is not a stream",
            "field": "subscriptions[0]",
        }
    )
    error = await asyncio.wait_for(got, 5)
    assert (error.code, error.message, error.field) == (
        "INVALID_SUBSCRIPTION",
        "'foo' is not a stream",
        "subscriptions[0]",
    )
    assert not harness.session.ended  # the cloud keeps the socket; so does the SDK


async def test_a_second_session_request_releases_the_first_socket(rig):
    cloud, app, harness, http, _ = rig
    await session_request(http, app, cloud.url)
    first_session = harness.session
    await session_request(http, app, cloud.url, augmentOSWebsocketUrl=cloud.url)
    old = cloud.connections[0]
    release = old.of_type("ownership_release")
    captured = next(t for d, t in capture(3) if "ownership_release" in t)
    captured = captured.replace("bob@example.com", "alice@example.com")
    assert [normalise(f) for f in release] == [normalise(captured)]
    assert first_session.ended and not harness.session.ended
    assert app.sessions == {SESSION_ID: harness.session}
    assert harness.stops == []


async def test_stop_webhook_calls_on_stop_and_closes(rig):
    cloud, app, harness, http, sleeps = rig
    await session_request(http, app, cloud.url)
    conn = await cloud.connection(0)
    body = {
        "type": "stop_request",
        "sessionId": SESSION_ID,
        "userId": "alice@example.com",
        "reason": "user_disabled",
        "timestamp": "2026-11-25T19:21:44.691Z",
    }
    url = f"http://127.0.0.1:{app.port}/webhook"
    async with http.post(url, json=body) as response:
        assert (response.status, await response.json()) == (200, {"status": "success"})
    await conn.closed.wait()
    assert harness.stops == ["user_disabled"]
    assert harness.session.ended and app.sessions == {}
    assert sleeps.delays == [] and len(cloud.connections) == 1
    async with http.post(url, json={**body, "type": "server_registration"}) as response:
        assert (response.status, await response.json()) == (
            400,
            {"status": "error", "message": "Unknown webhook request type"},
        )
    async with http.get(f"http://127.0.0.1:{app.port}/health") as response:
        assert await response.json() == {"status": "healthy", "app": PACKAGE, "activeSessions": 0}
