"""Network adapter for the Vosk server WebSocket protocol (alphacep/vosk-server, `websocket/`
`asr_server.py`): a widely deployed, self-hostable streaming recogniser, so audio can go to
a bigger model on the operator's own machines. Also the worked example of a network provider.

Protocol, per stream (one WebSocket connection):
- client -> `{"config": {"sample_rate": 16000, "words": 1}}` once (no answer);
- client -> binary PCM chunks; the server answers each with `{"partial": "..."}` or, when it
  detects the end of an utterance, `{"text": "...", "result": [{"word", "start", "end",
  "conf"}, ...]}` (times in seconds of the stream);
- client -> `{"reset" : 1}`: the server answers with the final result so far and goes on
  (our `END_UTTERANCE`);
- client -> `{"eof" : 1}`: the server answers with the final result and closes.

Options (`GLASSCLOUD_ASR_VOSK_<KEY>`): `url` (e.g. ws://asr.internal:2700, required),
`language` (what the server's model recognises; default en-US), `connect_timeout` (s, 5).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from glasscloud.asr.provider import AudioSource, Hypothesis, NetworkProvider
from glasscloud.protocol.close_codes import CloseCode

BYTES_PER_MS = 32
EOF = '{"eof" : 1}'
RESET = '{"reset" : 1}'


class VoskProvider(NetworkProvider):
    name = "vosk"

    def languages(self) -> Sequence[str]:
        return [self.options.get("language", "en-US")]

    @property
    def url(self) -> str:
        url = self.options.get("url")
        if not url:
            raise ValueError("the vosk provider needs GLASSCLOUD_ASR_VOSK_URL (ws://host:port)")
        return url

    async def stream(
        self, language: str, audio: AudioSource, emit: Callable[[Hypothesis], None]
    ) -> None:
        timeout = aiohttp.ClientTimeout(
            total=None, connect=float(self.options.get("connect_timeout", "5"))
        )
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.ws_connect(self.url, heartbeat=20, autoping=True) as ws,
        ):
            await ws.send_str(json.dumps({"config": {"sample_rate": 16000, "words": 1}}))
            state = _Utterances(emit)
            reader = asyncio.ensure_future(_read(ws, state))
            try:
                async for item in audio:
                    if reader.done():
                        break  # the server closed or failed: reader.result() raises below
                    if isinstance(item, bytes):
                        state.sent_ms += len(item) // BYTES_PER_MS
                        await ws.send_bytes(item)
                    else:
                        await ws.send_str(RESET)
                if not reader.done():
                    await ws.send_str(EOF)
                await reader
            finally:
                reader.cancel()


class _Utterances:
    """Turns Vosk answers into hypotheses with times."""

    def __init__(self, emit: Callable[[Hypothesis], None]) -> None:
        self.emit = emit
        self.sent_ms = 0
        self.start_ms: int | None = None
        self.last_partial = ""

    def answer(self, obj: dict[str, Any]) -> None:
        if "partial" in obj:
            text = str(obj["partial"]).strip()
            if text and text != self.last_partial:
                if self.start_ms is None:
                    self.start_ms = self.sent_ms
                self.last_partial = text
                self.emit(Hypothesis(text, False, self.start_ms, self.sent_ms))
            return
        if "text" not in obj:
            return
        words = obj.get("result") or []
        start = self.start_ms if self.start_ms is not None else self.sent_ms
        end = self.sent_ms
        if words:
            start = int(float(words[0].get("start", 0)) * 1000)
            end = int(float(words[-1].get("end", 0)) * 1000)
        confs = [float(w["conf"]) for w in words if "conf" in w]
        confidence = round(sum(confs) / len(confs), 3) if confs else None
        self.emit(Hypothesis(str(obj["text"]).strip(), True, start, end, confidence=confidence))
        self.start_ms = None
        self.last_partial = ""


async def _read(ws: aiohttp.ClientWebSocketResponse, state: _Utterances) -> None:
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT:
            state.answer(json.loads(msg.data))
        elif msg.type is aiohttp.WSMsgType.ERROR:
            raise ConnectionError(f"vosk server connection error: {ws.exception()}")
    if ws.close_code not in (CloseCode.NORMAL, None):
        raise ConnectionError(f"vosk server closed the stream with code {ws.close_code}")
