"""Conformance: the glasses' hardware as the unmodified `@mentra/sdk@2.1.29` uses it.

`session.camera.requestPhoto()` (the photo uploaded straight to the App's /photo-upload,
as glasses do; every failure rejects the promise with glasscloud's code),
`session.audio.speak()` / `playAudio()` / `stopAudio()` (the TTS URL served by glasscloud,
real speech), `session.led.turnOn()/turnOff()`, `session.requestWifiSetup()`. Each action is
triggered by a button press (app.mjs, HARDWARE_ACTIONS=1) and its outcome read from the
App's own promise.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator

import aiohttp
import pytest

from glasscloud.server.app import GlasscloudServer
from tests.conformance.sdk_app import SdkApp, ensure_installed
from tests.conformance.test_sdk_app import free_port
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.servers import token_for, ws_base
from tests.support.speech import espeak_available

PACKAGE = "com.example.sdkhardware"
USER = "hardware@example.com"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


async def _app(server: GlasscloudServer, permissions: tuple[str, ...]) -> SdkApp:
    ensure_installed()
    app = SdkApp(extra_env={"HARDWARE_ACTIONS": "1"})
    port = free_port()
    _, key = await server.store.create_app(
        PACKAGE, "SDK hardware", f"http://127.0.0.1:{port}", permissions=permissions
    )
    await app.start(PACKAGE, key, port)
    return app


@pytest.fixture
async def camera_app(server: GlasscloudServer) -> AsyncIterator[SdkApp]:
    app = await _app(server, ("CAMERA",))
    try:
        yield app
    finally:
        await app.stop()


@pytest.fixture
async def plain_app(server: GlasscloudServer) -> AsyncIterator[SdkApp]:
    app = await _app(server, ())
    try:
        yield app
    finally:
        await app.stop()


async def started(server, http, app: SdkApp) -> FrameInbox:
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": PACKAGE})
    await glasses.wait_for("app_state_change", lambda m: m.get("state") == "running", timeout=15)
    await app.wait_for("session", timeout=10)
    await glasses.wait_for(
        "app_state_change",
        lambda m: "button_press" in m["userSession"]["appSubscriptions"].get(PACKAGE, []),
        timeout=10,
    )
    return glasses


async def press(glasses: FrameInbox, action: str, arg: str = "-") -> None:
    # the SDK replaces a button_press with an empty pressType by {buttonId: "unknown"}
    await glasses.send({"type": "button_press", "buttonId": action, "pressType": arg})


async def outcome(app: SdkApp, action: str, timeout: float = 10.0) -> dict:
    return await app.wait_for("hardware", lambda e: e["action"] == action, timeout=timeout)


async def test_request_photo_resolves_with_the_upload_and_rejects_with_each_reason(
    server, http, camera_app
):
    server.registry.services.hardware.photo_timeout = 1.0
    glasses = await started(server, http, camera_app)

    # the glasses upload the photo to the webhookUrl they were given, as real glasses do
    await press(glasses, "photo")
    request = await glasses.wait_for("photo_request")
    assert request["appId"] == PACKAGE
    assert request["webhookUrl"] == f"{camera_app.public_url}/photo-upload"
    form = aiohttp.FormData()
    form.add_field("requestId", request["requestId"])
    form.add_field("photo", PNG, filename="photo.png", content_type="image/png")
    async with http.post(request["webhookUrl"], data=form) as response:
        assert response.status == 200
    done = await outcome(camera_app, "photo")
    assert done["ok"] and done["result"]["size"] == len(PNG)
    assert done["result"]["mimeType"] == "image/png"

    # the camera is busy: the glasses' code reaches the promise
    await press(glasses, "photo")
    request = await glasses.wait_for("photo_request")
    await glasses.send(
        {
            "type": "photo_response",
            "requestId": request["requestId"],
            "success": False,
            "error": {"code": "CAMERA_BUSY", "message": "the camera is recording"},
        }
    )
    failed = await outcome(camera_app, "photo")
    assert not failed["ok"] and "CAMERA_BUSY" in failed["error"]
    assert "the camera is recording" in failed["error"]

    # no answer within our timeout (shorter than the SDK's 30 s)
    await press(glasses, "photo")
    await glasses.wait_for("photo_request")
    failed = await outcome(camera_app, "photo", timeout=5)
    assert not failed["ok"] and "REQUEST_TIMEOUT" in failed["error"]

    # the glasses disconnect before answering
    await press(glasses, "photo")
    await glasses.wait_for("photo_request")
    await glasses.close()
    failed = await outcome(camera_app, "photo", timeout=5)
    assert not failed["ok"] and "GLASSES_NOT_CONNECTED" in failed["error"]


async def test_request_photo_without_camera_permission_never_reaches_the_glasses(
    server, http, plain_app
):
    glasses = await started(server, http, plain_app)
    await press(glasses, "photo")
    failed = await outcome(plain_app, "photo")
    assert not failed["ok"] and "PERMISSION_DENIED" in failed["error"]
    assert "CAMERA" in failed["error"]
    error = await plain_app.wait_for("error")
    assert "CAMERA" in error["error"]["message"] and "photo_request" in error["error"]["message"]
    assert glasses.of_type("photo_request") == []


@pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is not installed (scripts/test installs it)"
)
async def test_speak_plays_real_speech_from_glasscloud_and_resolves_with_the_answer(
    server, http, plain_app
):
    assert server.tts.synthesizer is not None  # espeak-ng is installed: it must be used
    server.registry.services.hardware.audio_timeout = 1.0
    glasses = await started(server, http, plain_app)
    await press(glasses, "speak", "Hello from your glasses")
    request = await glasses.wait_for("audio_play_request")
    assert request["trackId"] == 2 and request["stopOtherAudio"] is True
    base = f"http://127.0.0.1:{server.port}/api/tts?"
    assert request["audioUrl"].startswith(base), request["audioUrl"]  # no longer https://
    async with http.get(request["audioUrl"]) as response:
        assert response.status == 200 and response.content_type == "audio/wav"
        audio = await response.read()
    with wave.open(io.BytesIO(audio)) as wav:
        frames = wav.readframes(wav.getnframes())
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds > 0.5
    samples = memoryview(frames).cast("h")
    assert max(abs(s) for s in samples) > 1000  # speech, not silence
    await glasses.send(
        {
            "type": "audio_play_response",
            "requestId": request["requestId"],
            "success": True,
            "duration": seconds,
        }
    )
    done = await outcome(plain_app, "speak")
    assert done["ok"] and done["result"]["success"] is True
    assert done["result"]["duration"] == pytest.approx(seconds)

    # no answer from the phone: settled by glasscloud before the SDK's 60 s
    await press(glasses, "play", "http://127.0.0.1:9/sound.mp3")
    request = await glasses.wait_for("audio_play_request")
    assert request["audioUrl"] == "http://127.0.0.1:9/sound.mp3"
    done = await outcome(plain_app, "play", timeout=5)
    assert done["ok"] and done["result"]["success"] is False
    assert "did not answer" in done["result"]["error"]

    # a bad URL is refused before the phone: the promise settles, an error event names it
    await press(glasses, "play", "file:///etc/passwd")
    done = await outcome(plain_app, "play")
    assert done["result"]["success"] is False and "audioUrl" in done["result"]["error"]
    error = await plain_app.wait_for("error")
    assert "audioUrl" in error["error"]["message"]

    await press(glasses, "stop")
    stop = await glasses.wait_for("audio_stop_request")
    assert stop["appId"] == PACKAGE
    assert len(glasses.of_type("audio_play_request")) == 2


async def test_led_and_wifi_setup_reach_the_glasses(server, http, plain_app):
    glasses = await started(server, http, plain_app)
    await press(glasses, "led_on", "green")
    led = await glasses.wait_for("rgb_led_control")
    assert (led["action"], led["color"], led["ontime"], led["count"]) == ("on", "green", 1000, 1)
    assert led["requestId"].startswith("led_req_")
    await glasses.send(
        {"type": "rgb_led_control_response", "requestId": led["requestId"], "success": True}
    )
    assert (await outcome(plain_app, "led_on"))["ok"]
    await press(glasses, "led_off")
    off = await glasses.wait_for("rgb_led_control", lambda m: m["action"] == "off")
    assert "color" not in off
    # a colour the glasses do not have: an error event naming the field
    await press(glasses, "led_on", "purple")
    error = await plain_app.wait_for("error")
    assert "color" in error["error"]["message"]
    await press(glasses, "wifi", "to upload photos")
    setup = await glasses.wait_for("show_wifi_setup")
    assert setup["appPackageName"] == PACKAGE and setup["reason"] == "to upload photos"
