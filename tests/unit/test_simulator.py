"""The glasses simulator without sockets: how each layout is drawn, what the display state
does with the cloud's frames (durations, App stops), and the frames each command sends."""

from __future__ import annotations

import base64
import struct
import wave

import pytest

from glasscloud.simulator.client import glasses_ws_url
from glasscloud.simulator.commands import CommandError, parse_command
from glasscloud.simulator.render import render_layout, render_screen
from glasscloud.simulator.state import GlassesState
from glasscloud.simulator.wav import FRAME_BYTES, WavError, pcm_frames

TS = "2026-11-25T19:21:40.361Z"


def display(layout: dict, view: str = "main", package: str = "com.p", **extra) -> dict:
    return {
        "type": "display_event",
        "view": view,
        "packageName": package,
        "layout": layout,
        **extra,
    }


def bmp(width: int, height: int) -> str:
    header = b"BM" + struct.pack("<IHHI", 62, 0, 0, 62) + struct.pack("<Iii", 40, width, height)
    return base64.b64encode(header + b"\x00" * 36).decode()


@pytest.mark.parametrize(
    "layout,lines",
    [
        ({"layoutType": "text_wall", "text": "hello world"}, ["hello world"]),
        ({"layoutType": "text_wall", "text": ""}, []),
        ({"layoutType": "text_wall", "text": "one\ntwo"}, ["one", "two"]),
        (
            {"layoutType": "double_text_wall", "topText": "Top", "bottomText": "Bottom"},
            ["Top", "-" * 20, "Bottom"],
        ),
        (
            {"layoutType": "reference_card", "title": "Bob", "text": "hi there"},
            ["== Bob ==", "hi there"],
        ),
        (
            {"layoutType": "dashboard_card", "leftText": "Left", "rightText": "Right"},
            ["Left           Right"],
        ),
        ({"layoutType": "bitmap_view", "data": bmp(576, 135)}, ["[bitmap 576x135, 62 bytes]"]),
        ({"layoutType": "bitmap_view", "data": "%%%"}, ["[bitmap: not base64, 3 chars]"]),
        (
            {"layoutType": "bitmap_animation", "frames": ["a", "b"], "interval": 500, "repeat": 1},
            ["[animation: 2 frames every 500 ms, repeating]"],
        ),
        ({"layoutType": "clear_view"}, []),
        ({"layoutType": "hologram"}, ["[unsupported layout: hologram]"]),
    ],
)
def test_each_layout_renders(layout, lines):
    assert render_layout(layout, width=20) == lines


def test_long_text_wraps_to_the_width():
    lines = render_layout({"layoutType": "text_wall", "text": "a " * 30}, width=10)
    assert all(len(line) <= 10 for line in lines) and len(lines) == 6


def test_screen_shows_both_views_apps_and_microphone():
    state = GlassesState()
    state.apply(
        {
            "type": "app_state_change",
            "userSession": {"activeAppSessions": ["com.a"], "loadingApps": ["com.b"]},
        },
        0,
    )
    state.apply(display({"layoutType": "text_wall", "text": "Presses: 3"}, package="com.a"), 0)
    state.apply(
        display({"layoutType": "dashboard_card", "leftText": "N", "rightText": "2"}, "dashboard"),
        0,
    )
    state.apply({"type": "microphone_state_change", "isMicrophoneEnabled": True}, 0)
    screen = render_screen(state, 0, width=20)
    assert screen.splitlines() == [
        "+-- main: com.a -------+",
        "| Presses: 3           |",
        "+-- dashboard: com.p --+",
        "| N                  2 |",
        "+----------------------+",
        "apps: com.a (running), com.b (loading)",
        "microphone: on",
    ]


def test_duration_expires_and_clear_view_clears():
    state = GlassesState()
    state.apply(display({"layoutType": "text_wall", "text": "brief"}, durationMs=2000), 10.0)
    assert state.visible("main", 11.9) is not None
    assert state.next_expiry(11.0) == 12.0
    assert state.visible("main", 12.0) is None
    state.apply(display({"layoutType": "text_wall", "text": "stays"}), 13)
    state.apply(display({"layoutType": "clear_view"}), 14)
    assert state.visible("main", 14) is None and "stays" not in render_screen(state, 14)


def test_a_stopped_app_leaves_the_display_and_failures_are_noticed():
    state = GlassesState()
    state.apply(display({"layoutType": "text_wall", "text": "mine"}, package="com.a"), 0)
    state.apply(
        {
            "type": "app_state_change",
            "packageName": "com.a",
            "state": "stopped",
            "error": {"stage": "TIMEOUT", "message": "no connection"},
        },
        0,
    )
    screen = render_screen(state, 0)
    assert "mine" not in screen
    assert "! com.a failed (TIMEOUT): no connection" in screen
    state.apply({"type": "connection_error", "code": "X", "message": "bad"}, 0)
    assert "! error X: bad" in render_screen(state, 0)


@pytest.mark.parametrize(
    "line,frame",
    [
        ("start com.a", {"type": "start_app", "packageName": "com.a", "timestamp": TS}),
        ("stop com.a", {"type": "stop_app", "packageName": "com.a", "timestamp": TS}),
        (
            "press",
            {"type": "button_press", "buttonId": "main", "pressType": "short", "timestamp": TS},
        ),
        (
            "press long",
            {"type": "button_press", "buttonId": "main", "pressType": "long", "timestamp": TS},
        ),
        (
            "press ring long",
            {"type": "button_press", "buttonId": "ring", "pressType": "long", "timestamp": TS},
        ),
        ("head up", {"type": "head_position", "position": "up", "timestamp": TS}),
        (
            "say hello there",
            {
                "type": "local_transcription",
                "text": "hello there",
                "isFinal": True,
                "transcribeLanguage": "en-US",
                "startTime": 1000,
                "endTime": 1600,
            },
        ),
        (
            "notify Messages | Bob | hi there",
            {
                "type": "phone_notification",
                "notificationId": "sim-1000",
                "app": "Messages",
                "title": "Bob",
                "content": "hi there",
                "priority": "normal",
                "timestamp": TS,
            },
        ),
        (
            "touch double_tap",
            {
                "type": "touch_event",
                "device_model": "Simulated Glasses",
                "gesture_name": "double_tap",
                "timestamp": TS,
            },
        ),
    ],
)
def test_commands_send_glasses_frames(line, frame):
    command = parse_command(line, TS, 1000)
    assert command.frames == [frame]


@pytest.mark.parametrize(
    "line", ["start", "head sideways", "say", "touch poke", "notify x", "lang english", "fly"]
)
def test_bad_commands_say_what_to_type(line):
    with pytest.raises(CommandError) as info:
        parse_command(line, TS, 0)
    assert "usage" in str(info.value) or "unknown command" in str(info.value)


def test_empty_lines_and_control_commands():
    assert parse_command("   ", TS, 0) is None
    assert parse_command("QUIT", TS, 0).name == "quit"
    assert parse_command("lang fr-FR", TS, 0).argument == "fr-FR"
    assert parse_command("wav 'my file.wav'", TS, 0).argument == "my file.wav"


def write_wav(path, rate=16000, channels=1, frames=4000):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x01\x02" * frames * channels)


def test_wav_becomes_100_ms_frames(tmp_path):
    write_wav(tmp_path / "a.wav", frames=4000)  # 250 ms
    frames = pcm_frames(tmp_path / "a.wav")
    assert [len(f) for f in frames] == [FRAME_BYTES, FRAME_BYTES, 1600]
    assert frames[0][:4] == b"\x01\x02\x01\x02"


def test_wav_in_another_format_is_refused(tmp_path):
    write_wav(tmp_path / "b.wav", rate=44100)
    with pytest.raises(WavError, match="16000 Hz 16-bit mono"):
        pcm_frames(tmp_path / "b.wav")
    with pytest.raises(WavError, match="cannot read"):
        pcm_frames(tmp_path / "missing.wav")


def test_server_urls_become_glasses_ws_urls():
    assert glasses_ws_url("http://127.0.0.1:8002") == "ws://127.0.0.1:8002/glasses-ws"
    assert glasses_ws_url("https://cloud.example/") == "wss://cloud.example/glasses-ws"
    assert glasses_ws_url("ws://h/glasses-ws") == "ws://h/glasses-ws"
    with pytest.raises(ValueError):
        glasses_ws_url("ftp://h")


def failed(package: str) -> dict:
    return {
        "type": "app_state_change",
        "packageName": package,
        "state": "stopped",
        "error": {"stage": "WEBHOOK", "message": "HTTP 500"},
    }


def test_an_apps_failure_line_goes_once_it_runs():
    state = GlassesState()
    state.apply(failed("com.a"), 0)
    state.apply(failed("com.b"), 0)
    state.apply({"type": "connection_error", "code": "X", "message": "bad"}, 0)
    state.apply({"type": "app_state_change", "packageName": "com.a", "state": "loading"}, 0)
    assert "! com.a failed (WEBHOOK): HTTP 500" in render_screen(state, 0)  # not yet
    state.apply({"type": "app_state_change", "packageName": "com.a", "state": "running"}, 0)
    lines = render_screen(state, 0).splitlines()
    assert lines[-2:] == ["! com.b failed (WEBHOOK): HTTP 500", "! error X: bad"]
    assert "apps: com.a (running)" in lines


def test_an_apps_stop_line_goes_when_a_snapshot_shows_it_running():
    state = GlassesState()
    state.apply({"type": "app_state_change", "packageName": "com.a", "state": "stopped",
                 "reason": "crashed"}, 0)  # fmt: skip
    assert "! com.a stopped (crashed)" in render_screen(state, 0)
    state.apply({"type": "connection_ack", "userSession": {"activeAppSessions": ["com.a"]}}, 0)
    assert "!" not in render_screen(state, 0)


def test_a_new_connection_starts_from_what_the_cloud_sends():
    state = GlassesState()
    state.apply(display({"layoutType": "text_wall", "text": "old"}), 0)
    state.apply({"type": "microphone_state_change", "isMicrophoneEnabled": True}, 0)
    state.apply({"type": "connection_ack", "userSession": {"activeAppSessions": []}}, 1)
    screen = render_screen(state, 1)
    assert "old" not in screen and "microphone: off" in screen


def test_the_connection_line_shows_only_when_not_connected():
    state = GlassesState()
    state.apply({"type": "connection_ack", "userSession": {}}, 0)
    assert "connection:" not in render_screen(state, 0)
    state.link_status = "reconnecting in 1 s (attempt 2): server restarting (code 1012)"
    lines = render_screen(state, 0).splitlines()
    assert lines[-2:] == [
        "microphone: off",
        "connection: reconnecting in 1 s (attempt 2): server restarting (code 1012)",
    ]


def test_setting_command_is_a_rest_request_not_a_frame():
    from glasscloud.simulator.commands import CommandError, parse_command

    command = parse_command("setting com.x.app size 4", "t", 0)
    assert command.frames == []
    assert command.request == {"package": "com.x.app", "key": "size", "value": 4}
    text = parse_command("setting com.x.app name Big Letters", "t", 0)
    assert text.request["value"] == "Big Letters"
    assert parse_command("setting com.x.app on true", "t", 0).request["value"] is True
    with pytest.raises(CommandError, match="usage: setting"):
        parse_command("setting com.x.app size", "t", 0)


def test_location_and_rtmp_commands_answer_the_clouds_requests():
    state = GlassesState()
    request = {"type": "request_single_location", "accuracy": "high", "correlationId": "poll_1"}
    assert state.apply(request, 0.0)
    assert "location requested (high)" in state.notices[-1].text
    fix = parse_command("location 52.52 13.405 8", TS, 0)
    assert fix.frames[0] == {
        "type": "location_update",
        "lat": 52.52,
        "lng": 13.405,
        "accuracy": 8.0,
        "timestamp": TS,
    }
    assert state.phone.location(fix.frames[0])["correlationId"] == "poll_1"
    assert "correlationId" not in state.phone.location(fix.frames[0])  # answered once
    start = {
        "type": "start_rtmp_stream",
        "appId": "com.cam",
        "rtmpUrl": "rtmp://h/l",
        "streamId": "s1",
    }
    assert state.apply(start, 0.0) and "RTMP start requested by com.cam" in state.notices[-1].text
    status = parse_command("rtmp streaming", TS, 0).frames[0]
    assert state.phone.rtmp_status(status)["streamId"] == "s1"
    state.apply({"type": "keep_rtmp_stream_alive", "streamId": "s1", "ackId": "a1"}, 0.0)
    assert state.phone.outbox == [{"type": "keep_alive_ack", "streamId": "s1", "ackId": "a1"}]
    assert state.apply({"type": "stop_rtmp_stream", "streamId": "s1"}, 0.0)
    assert "RTMP stop requested" in state.notices[-1].text


@pytest.mark.parametrize("line", ["location", "location 91 0", "location a b", "rtmp"])
def test_bad_location_and_rtmp_commands_say_what_to_type(line):
    with pytest.raises(CommandError) as info:
        parse_command(line, TS, 0)
    assert "usage" in str(info.value)
