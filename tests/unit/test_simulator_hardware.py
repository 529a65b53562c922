"""The simulator's hardware: what it prints for audio, LED and Wi-Fi requests, and how
`photo PATH` refuses what real glasses could not send."""

from __future__ import annotations

import aiohttp
import pytest

from glasscloud.simulator.commands import CommandError, parse_command
from glasscloud.simulator.hardware import SimulatedHardware


def test_hardware_requests_are_described():
    hw = SimulatedHardware()
    assert "asks for a photo (small)" in hw.observe(
        {
            "type": "photo_request",
            "requestId": "p1",
            "appId": "com.a",
            "size": "small",
            "webhookUrl": "http://127.0.0.1:9/photo-upload",
        }
    )
    assert (
        hw.observe(
            {
                "type": "audio_play_request",
                "appId": "com.a",
                "audioUrl": "http://x/t.wav",
                "trackId": 2,
            }
        )
        == "[speaker] com.a would play http://x/t.wav (volume 1, track 2)"
    )
    spoken = hw.observe(
        {
            "type": "audio_play_request",
            "appId": "com.a",
            "audioUrl": "http://h/api/tts?text=Hi+there",
        }
    )
    assert spoken.startswith('[speaker] com.a would say "Hi there" from http://h/api/tts?')
    assert hw.observe({"type": "audio_stop_request", "appId": "com.a"}).endswith("all tracks")
    assert (
        hw.observe(
            {
                "type": "rgb_led_control",
                "packageName": "com.a",
                "action": "on",
                "color": "red",
                "ontime": 1000,
                "offtime": 0,
                "count": 1,
            }
        )
        == "[led] com.a: red on 1000 ms, off 0 ms, 1 time(s)"
    )
    assert hw.observe({"type": "show_wifi_setup", "appPackageName": "com.a"}).startswith("[wifi]")
    assert hw.observe({"type": "display_event"}) is None


def test_photo_command_needs_one_path():
    assert parse_command("photo /tmp/a.jpg", "T", 0).argument == "/tmp/a.jpg"
    with pytest.raises(CommandError, match="usage: photo PATH"):
        parse_command("photo", "T", 0)


async def test_photo_upload_refuses_without_a_request_a_file_or_an_image(tmp_path):
    hw = SimulatedHardware()
    async with aiohttp.ClientSession() as http:
        assert await hw.upload_photo(http, "x.jpg") == "no photo was asked for"
        hw.observe(
            {"type": "photo_request", "requestId": "p1", "webhookUrl": "http://127.0.0.1:9/u"}
        )
        assert (await hw.upload_photo(http, str(tmp_path / "missing.jpg"))).startswith(
            "cannot read"
        )
        text = tmp_path / "notes.txt"
        text.write_text("hello")
        assert "is not an image" in await hw.upload_photo(http, str(text))
        assert hw.photo_requests  # still waiting for a real photo
