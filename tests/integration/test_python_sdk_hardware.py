"""The Python SDK's camera, audio and LED against a real glasscloud, with the terminal
glasses simulator as the glasses: `photo PATH` uploads to the App's /photo-upload, audio
and LED requests are printed."""

from __future__ import annotations

import asyncio

import pytest

from glasscloud.sdk import AppServer, AppSession
from glasscloud.sdk.hardware import PhotoError, https_server_url
from glasscloud.simulator import GlassesSimulator
from tests.integration.test_sdk_examples import Typed, serve
from tests.support.servers import token_for

USER = "dev@example.com"
PACKAGE = "com.example.camera"
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64 + b"\xff\xd9"


async def until(predicate, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_python_app_photo_speech_and_led_through_the_simulator(server, http, tmp_path):
    sessions: list[AppSession] = []
    app = AppServer(PACKAGE, "not-yet", port=0, host="127.0.0.1")
    app.on_session(sessions.append)
    await serve(server, app, permissions=("CAMERA",))
    out: list[str] = []
    sim = GlassesSimulator(
        f"ws://127.0.0.1:{server.port}/glasses-ws", token_for(server, USER), out=out.append
    )
    await sim.connect(http)
    typed = Typed()
    loop = asyncio.create_task(sim.run(typed))
    try:
        typed.type(f"start {PACKAGE}")
        await until(lambda: sessions)
        session = sessions[0]

        # a photo: the simulator uploads the file to the webhookUrl, request_photo resolves
        picture = tmp_path / "view.jpg"
        picture.write_bytes(JPEG)
        asked = asyncio.create_task(session.camera.request_photo(size="small"))
        await until(lambda: any("[camera]" in line for line in out))
        typed.type(f"photo {picture}")
        photo = await asyncio.wait_for(asked, 5)
        assert photo.data == JPEG and photo.mime_type == "image/jpeg"
        await until(lambda: any("uploaded to" in line and "HTTP 200" in line for line in out))

        # no answer: glasscloud's timeout rejects it with its code
        server.registry.services.hardware.photo_timeout = 0.3
        with pytest.raises(PhotoError) as failed:
            await session.camera.request_photo()
        assert failed.value.code == "REQUEST_TIMEOUT"

        # speech: the URL the simulator would play is this server's own TTS route
        assert https_server_url(session.ws_url) == f"https://127.0.0.1:{server.port}"
        server.registry.services.hardware.audio_timeout = 0.3
        result = await session.audio.speak("Engage")
        assert result.success is False and "did not answer" in (result.error or "")
        [line] = [line for line in out if "[speaker]" in line]
        assert f"http://127.0.0.1:{server.port}/api/tts?text=Engage" in line
        session.audio.stop_audio(2)
        session.led.turn_on("blue", 200, 100, 3)
        session.led.turn_off()
        session.request_wifi_setup("photos")
        await until(lambda: sum("[led]" in line for line in out) == 2)
        await until(lambda: any("[wifi]" in line for line in out))
        assert any("stops track 2" in line for line in out)
        assert any("blue on 200 ms, off 100 ms, 3 time(s)" in line for line in out)
    finally:
        typed.type("quit")
        await asyncio.wait_for(loop, 5)
        await app.stop()
