"""Bad input on the hardware routes and messages, over real sockets: `GET /api/tts` and the
App's `photo_request`, `audio_play_request`, `audio_stop_request`, `rgb_led_control`,
`request_wifi_setup`. Each refusal has a code and a sentence naming the field; the socket
stays open."""

from __future__ import annotations

import io
import json
import wave

import pytest

from tests.support.scenarios import running_app
from tests.support.servers import http_base
from tests.support.speech import espeak_available

USER = "picard@example.com"


async def tts(http, server, query: str):
    async with http.get(f"{http_base(server)}/api/tts{query}") as response:
        body = await response.read()
        return response.status, response.content_type, body


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("", "text"),
        ("?text=%20%20", "text"),
        ("?text=" + "a" * 1001, "text"),
        ("?text=hi&voice_settings=%7Bnot-json", "voice_settings"),
        ("?text=hi&voice_settings=%5B1%5D", "voice_settings"),
        ("?text=hi&voice_settings=%7B%22speed%22%3A9%7D", "voice_settings.speed"),
        ("?text=hi&voice_id=" + "v" * 101, "voice_id"),
    ],
)
async def test_tts_refuses_bad_parameters_naming_the_field(server, http, query, field):
    status, kind, body = await tts(http, server, query)
    assert status == 400 and kind == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "INVALID_FIELD" and error["field"] == field
    assert f"`{field}`" in error["message"]


@pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is not installed (scripts/test installs it)"
)
async def test_tts_speaks_caches_and_limits_the_rate(server, http):
    assert server.tts.synthesizer is not None  # espeak-ng is installed: it must be used
    status, kind, audio = await tts(http, server, "?text=Make%20it%20so&voice_id=not-a-voice")
    assert status == 200 and kind == "audio/wav"
    with wave.open(io.BytesIO(audio)) as wav:
        assert wav.getnframes() / wav.getframerate() > 0.3
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
    again = await tts(http, server, "?text=Make%20it%20so&voice_id=not-a-voice")
    assert again[2] == audio  # served from the cache
    statuses = [(await tts(http, server, "?text=Make%20it%20so"))[0] for _ in range(12)]
    assert statuses.count(429) >= 1 and statuses[0] == 200
    status, _, body = await tts(http, server, "?text=Make%20it%20so")
    error = json.loads(body)["error"]
    assert status == 429 and error["code"] == "RATE_LIMITED"


async def test_tts_off_is_a_coded_503(server, http):
    server.tts.synthesizer = None
    status, _, body = await tts(http, server, "?text=hello")
    assert status == 503 and json.loads(body)["error"]["code"] == "TTS_UNAVAILABLE"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "photo_request"}, "requestId"),
        ({"type": "photo_request", "requestId": "p", "size": "huge"}, "size"),
        ({"type": "photo_request", "requestId": "p", "compress": 3}, "compress"),
        (
            {"type": "photo_request", "requestId": "p", "customWebhookUrl": "ftp://x"},
            "customWebhookUrl",
        ),
        ({"type": "photo_request", "requestId": "x" * 129}, "requestId"),
        ({"type": "audio_play_request", "requestId": "a"}, "audioUrl"),
        ({"type": "audio_play_request", "requestId": "a", "audioUrl": "javascript:1"}, "audioUrl"),
        (
            {
                "type": "audio_play_request",
                "requestId": "a",
                "audioUrl": "http://x",
                "trackId": 1.5,
            },
            "trackId",
        ),
        ({"type": "audio_stop_request", "trackId": -1}, "trackId"),
        ({"type": "rgb_led_control", "action": "on", "color": "pink"}, "color"),
        ({"type": "rgb_led_control"}, "action"),
        ({"type": "rgb_led_control", "action": "on", "count": 10_000}, "count"),
        ({"type": "request_wifi_setup", "reason": 5}, "reason"),
    ],
)
async def test_bad_hardware_messages_are_refused_naming_the_field(server, http, message, field):
    app, glasses = await running_app(server, http, "com.example.hw", USER, permissions=("CAMERA",))
    inbox = app.inboxes[USER]
    await inbox.send({**message, "packageName": app.package, "sessionId": ""})
    error = await inbox.wait_for("tpa_connection_error")
    assert error["code"] in ("INVALID_FIELD", "RATE_LIMITED") and error["field"] == field
    assert f"`{field}`" in error["message"] and error.get("hint")
    # nothing reached the glasses, and the socket still works
    assert not any(m["type"] == message["type"] for m in glasses.messages)
    await inbox.send({**message, "type": "request_wifi_setup", "reason": "ok"})
    await glasses.wait_for("show_wifi_setup")
