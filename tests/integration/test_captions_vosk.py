"""The network provider adapter (Vosk server WebSocket protocol) against a local fake Vosk
server on 127.0.0.1, through a real glasscloud: the real service is never contacted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from glasscloud.server.app import GlasscloudServer
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import connect_glasses
from tests.support.loopback import serve_on_loopback
from tests.support.scenarios import register_app
from tests.support.servers import make_config, token_for, ws_base

USER = "dan@example.com"
EN = "transcription:en-US"
FRAME = bytes(3200)


class FakeVosk:
    """Speaks the vosk-server protocol: config first, then one answer per message; a partial
    after each chunk, the final result on `{"reset" : 1}` and on `{"eof" : 1}` (then close).
    It "recognises" one word per 100 ms chunk: w1 w2 w3 ..."""

    def __init__(self) -> None:
        self.connections = 0
        self.configs: list[dict[str, Any]] = []
        self.resets = 0
        self.eofs = 0
        self.crash_after_chunks: int | None = None  # first connection only
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> FakeVosk:
        app = web.Application()
        app.router.add_get("/", self._handle)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        crash = self.crash_after_chunks if self.connections == 1 else None
        words: list[str] = []
        chunks = 0
        position = 0.0
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                obj = json.loads(msg.data)
                if "config" in obj:
                    self.configs.append(obj["config"])
                    continue
                if obj.get("reset") or obj.get("eof"):
                    result = [
                        {
                            "word": w,
                            "start": position - 0.1 * (len(words) - i),
                            "end": position - 0.1 * (len(words) - i - 1),
                            "conf": 0.5,
                        }
                        for i, w in enumerate(words)
                    ]
                    await ws.send_str(json.dumps({"result": result, "text": " ".join(words)}))
                    words = []
                    if obj.get("eof"):
                        self.eofs += 1
                        await ws.close()
                        break
                    self.resets += 1
            elif msg.type is WSMsgType.BINARY:
                chunks += 1
                position += len(msg.data) / 32000
                if crash is not None and chunks > crash:
                    await ws.close(code=1011, message=b"model crashed")
                    break
                words.append(f"w{len(words) + 1}")
                await ws.send_str(json.dumps({"partial": " ".join(words)}))
        return ws


@pytest.fixture
async def vosk() -> AsyncIterator[FakeVosk]:
    fake = await FakeVosk().start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def vosk_server(tmp_path: Path, vosk: FakeVosk) -> AsyncIterator[GlasscloudServer]:
    config = make_config(tmp_path, asr_provider="vosk", asr_options=(("url", vosk.url),))
    running = await start_server(config)
    try:
        yield running
    finally:
        await stop_server(running)


async def running_captions_app(server, http):
    app = await register_app(server, http)
    app.subscriptions = [EN]
    glasses = await connect_glasses(http, ws_base(server), token_for(server, USER), USER)
    await glasses.wait_for("connection_ack")
    await glasses.send({"type": "start_app", "packageName": app.package})
    await glasses.wait_for(
        "app_state_change",
        lambda m: m["userSession"]["appSubscriptions"].get(app.package) == [EN],
    )
    return app, glasses


def transcriptions(inbox) -> list[dict[str, Any]]:
    return [m["data"] for m in inbox.of_type("data_stream") if m["streamType"] == EN]


async def test_vosk_adapter_streams_audio_and_delivers_interim_and_final(vosk_server, vosk, http):
    app, glasses = await running_captions_app(vosk_server, http)
    inbox = app.inboxes[USER]
    await glasses.send({"type": "VAD", "status": True})
    for _ in range(3):
        await glasses.ws.send_bytes(FRAME)
    await inbox.wait_for("data_stream", lambda m: m["data"]["text"] == "w1 w2 w3")
    await glasses.send({"type": "VAD", "status": False})
    final = await inbox.wait_for("data_stream", lambda m: m["data"]["isFinal"])
    assert final["data"]["text"] == "w1 w2 w3" and final["data"]["provider"] == "vosk"
    assert final["data"]["confidence"] == 0.5
    assert 250 <= final["data"]["duration"] <= 350
    assert [d["isFinal"] for d in transcriptions(inbox)] == [False, False, False, True]
    assert vosk.configs == [{"sample_rate": 16000, "words": 1}] and vosk.resets == 1
    # session end: the stream is closed with eof
    await glasses.close()
    await app.stop()
    await asyncio.sleep(0.2)
    assert vosk.eofs == 1


async def test_vosk_server_failure_is_reported_and_the_stream_reconnects(vosk_server, vosk, http):
    vosk.crash_after_chunks = 2
    app, glasses = await running_captions_app(vosk_server, http)
    inbox = app.inboxes[USER]
    await glasses.send({"type": "VAD", "status": True})
    for _ in range(4):
        await glasses.ws.send_bytes(FRAME)
        await asyncio.sleep(0.05)
    error = await inbox.wait_for("tpa_connection_error")
    assert error["code"] == "TRANSCRIPTION_UNAVAILABLE" and "1011" in error["message"]
    assert error["field"] == EN
    await glasses.ws.send_bytes(FRAME)
    # reconnected after the backoff; the utterance's audio was replayed into the new stream
    await inbox.wait_for(
        "data_stream", lambda m: m["data"]["text"].startswith("w1 w2 w3 w4"), timeout=5
    )
    assert vosk.connections == 2
    await glasses.send({"type": "VAD", "status": False})
    final = await inbox.wait_for("data_stream", lambda m: m["data"]["isFinal"])
    assert final["data"]["text"].split()[:5] == ["w1", "w2", "w3", "w4", "w5"]
    await glasses.close()
    await app.stop()


async def test_unreachable_vosk_server_is_reported_not_silent(tmp_path, http):
    config = make_config(tmp_path, asr_provider="vosk", asr_options=(("url", "ws://127.0.0.1:9"),))
    server = await start_server(config)
    try:
        app, glasses = await running_captions_app(server, http)
        await glasses.ws.send_bytes(FRAME)
        error = await app.inboxes[USER].wait_for("tpa_connection_error")
        assert error["code"] == "TRANSCRIPTION_UNAVAILABLE" and "vosk" in error["message"]
        await glasses.close()
        await app.stop()
    finally:
        await stop_server(server)
