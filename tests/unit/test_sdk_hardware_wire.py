"""The Python SDK's hardware frames are the official SDK's, byte for byte (field order
included), against frames captured from `@mentra/sdk` 2.1.29 (tests/fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

from glasscloud.sdk.hardware import Audio, Camera, Led, PhotoRequests, wifi_setup_frame

CAPTURE = Path(__file__).parent.parent / "fixtures" / "sdk-wire-capture-part1.txt"
PACKAGE = "com.example.harness"
SESSION_ID = f"alice@example.com-{PACKAGE}"
STAMP = "2026-11-25T19:21:43.214Z"


def captured(kind: str) -> list[str]:
    frames = re.findall(r'(\{"type":"' + kind + r'".*\})\s*$', CAPTURE.read_text(), re.M)
    return [normal(f) for f in frames]


def normal(frame: str) -> str:
    frame = re.sub(r'"timestamp":"[^"]+"', '"timestamp":"T"', frame)
    return re.sub(r'"requestId":"(\w+?_req)_\d+_\w+"', r'"requestId":"\1_N"', frame)


class Stub:
    package_name = PACKAGE
    session_id = SESSION_ID
    ws_url = "ws://127.0.0.1:8002/app-ws"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def _timestamp(self) -> str:
        return STAMP

    def send(self, frame: str) -> None:
        self.sent.append(normal(frame))


async def test_audio_led_photo_and_wifi_frames_match_the_official_sdk():
    s = Stub()
    audio, led, camera = Audio(s), Led(s), Camera(s, PhotoRequests())  # type: ignore[arg-type]
    waiting = asyncio.create_task(
        audio.play_audio("https://example.invalid/a.mp3", volume=0.5, timeout=0.01)
    )
    await audio.play_audio("https://example.invalid/b.mp3", stop_other_audio=False, track_id=1)
    audio.stop_audio(1)
    led.turn_on("green", 500, 250, 2)
    photo = asyncio.create_task(camera.request_photo(size="small", timeout=0.01))
    s.send(wifi_setup_frame(s, "harness wants wifi"))  # type: ignore[arg-type]
    for task in (waiting, photo):
        with contextlib.suppress(Exception):  # nobody answers: both time out
            await task
    kinds = ["audio_play_request", "audio_stop_request", "rgb_led_control", "photo_request"]
    expected = [f for kind in kinds for f in captured(kind)] + captured("request_wifi_setup")
    assert len(expected) == 6 and sorted(s.sent) == sorted(expected)
