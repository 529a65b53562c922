"""The load generator's peers (picows clients): glasses, Apps, and the Apps' webhook server.

Every frame carries its send time (`time.perf_counter_ns`, one clock: sender and receiver
live in this process): audio in its first 8 bytes, events in `buttonId` / the transcription
`text`, displays in `layout.text`. Listeners count receipts and record latencies into a
shared `Tally` while it is recording.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

HOST = "127.0.0.1"
TEXT, BINARY = WSMsgType.TEXT, WSMsgType.BINARY
now_ns = time.perf_counter_ns
_decode = msgspec.json.Decoder().decode
AUDIO_BYTES = 3200
READ_BUFFER = 16384  # the idle mode sets 4096 (memory of the generator, not the server)
PAD = "x" * 96  # makes a button_press about 200 bytes, like the stack reference's events


@dataclass
class Tally:
    """Counters and latency samples (ns) per class: audio, transcription, button, display."""

    recording: bool = False
    received: dict[str, int] = field(default_factory=dict)
    lat: dict[str, list[int]] = field(default_factory=dict)
    sent_at: dict[str, list[int]] = field(default_factory=dict)  # send time of each sample
    on_delivery: Callable[[Session], None] | None = None

    def hit(self, kind: str, sent_ns: int) -> None:
        self.received[kind] = self.received.get(kind, 0) + 1
        if self.recording:
            self.lat.setdefault(kind, []).append(now_ns() - sent_ns)
            self.sent_at.setdefault(kind, []).append(sent_ns)


def audio_frame() -> bytearray:
    return bytearray(random.Random(1).randbytes(AUDIO_BYTES))


def button_text() -> bytes:
    return b'{"type":"button_press","buttonId":"%d","pressType":"short","pad":"%s"}' % (
        now_ns(),
        PAD.encode(),
    )


def transcription_text() -> bytes:
    return (
        b'{"type":"local_transcription","text":"%d","isFinal":true,'
        b'"transcribeLanguage":"en-US"}' % now_ns()
    )


class GlassesListener(WSListener):
    def __init__(self, tally: Tally, session: Session) -> None:
        self.tally = tally
        self.session = session
        self.acked = asyncio.get_running_loop().create_future()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is not TEXT:
            return
        payload = frame.get_payload_as_bytes()
        if b'"display_event"' in payload:
            text = _decode(payload).get("layout", {}).get("text")
            if isinstance(text, str) and text.isdigit():  # ours, not a boot screen
                self.tally.hit("display", int(text))
        elif not self.acked.done() and b'"connection_ack"' in payload:
            self.acked.set_result(True)


class AppListener(WSListener):
    """One App socket. App 0 of each session answers every transcription with a display."""

    def __init__(self, tally: Tally, session: Session, index: int, slow: bool = False) -> None:
        self.tally = tally
        self.session = session
        self.index = index
        self.slow = slow
        self.transport: WSTransport | None = None
        self.acked = asyncio.get_running_loop().create_future()
        self.package = ""

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        tally = self.tally
        if frame.msg_type is BINARY:
            kind = "slow_audio" if self.slow else "audio"
            tally.hit(kind, int.from_bytes(frame.get_payload_as_memoryview()[:8], "little"))
            if tally.on_delivery is not None:
                tally.on_delivery(self.session)
            return
        if frame.msg_type is not TEXT:
            return
        obj = _decode(frame.get_payload_as_bytes())
        kind = obj.get("type")
        if kind == "data_stream":
            obj = obj["data"]
            kind = obj.get("type")
        elif kind == "tpa_connection_ack":
            self.acked.set_result(True)
            return
        if kind in ("transcription", "local_transcription"):
            tally.hit("transcription", int(obj["text"]))
            if self.index == 0:
                self.send_display()
        elif kind == "button_press":
            tally.hit("button", int(obj["buttonId"]))
        else:
            return
        if tally.on_delivery is not None:
            tally.on_delivery(self.session)

    def send_display(self) -> None:
        if self.transport is None:
            return
        self.session.displays_sent += 1
        self.transport.send(
            TEXT,
            b'{"type":"display_event","packageName":"%s","sessionId":"","view":"main",'
            b'"layout":{"layoutType":"text_wall","text":"%d"},"durationMs":3000}'
            % (self.package.encode(), now_ns()),
        )


@dataclass
class Session:
    """One user's glasses and its Apps, as the generator sees them."""

    index: int
    glasses: WSTransport | None = None
    apps: list[AppListener] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    displays_sent: int = 0
    # saturation mode: frames the glasses sent, deliveries seen, frames kept in flight
    sent: int = 0
    delivered: int = 0


async def connect(
    factory: Callable[[], WSListener],
    url: str,
    headers: dict[str, str] | None = None,
    rcvbuf: int | None = None,
) -> tuple[WSTransport, Any]:
    """picows connect with a small read buffer (idle memory) and, for a slow App, a small
    kernel receive buffer so its backlog reaches the server quickly."""
    sock_factory = None
    if rcvbuf is not None:

        async def sock_factory(parsed: Any) -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (parsed.host, parsed.port))
            return sock

    last: Exception | None = None
    for _ in range(5):
        try:
            return await ws_connect(
                factory,
                url,
                extra_headers=headers,
                websocket_handshake_timeout=30,
                read_buffer_init_size=READ_BUFFER,
                use_aiofastnet=False,
                socket_factory=sock_factory,
            )
        except (TimeoutError, OSError) as exc:
            last = exc
            await asyncio.sleep(0.2)
    raise RuntimeError(f"cannot connect to {url}: {last}")


class WebhookServer:
    """The Apps' server: answers `session_request` the way `@mentra/sdk` does (connect to
    the URL it names, `tpa_connection_init`, wait for the ack, subscribe, then 200)."""

    def __init__(
        self,
        tally: Tally,
        sessions: dict[str, Session],
        packages: dict[str, tuple[int, str, list[str], bool]],
        slow_rcvbuf: int | None,
    ) -> None:
        self.tally = tally
        self.sessions = sessions  # by userId
        self.packages = packages  # package -> (index, api key, subscriptions, slow)
        self.slow_rcvbuf = slow_rcvbuf
        self.port = 0
        self._runner: web.AppRunner | None = None
        self.errors = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._webhook)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0, backlog=1024).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("type") != "session_request":
            return web.json_response({"status": "success"})
        session = self.sessions[body["userId"]]
        package = body["sessionId"][len(body["userId"]) + 1 :]
        index, key, subs, slow = self.packages[package]
        listener = AppListener(self.tally, session, index, slow)
        listener.package = package
        try:
            transport, _ = await connect(
                lambda: listener,
                body["mentraOSWebsocketUrl"],
                rcvbuf=self.slow_rcvbuf if slow else None,
            )
            transport.send(
                TEXT,
                msgspec.json.encode(
                    {
                        "type": "tpa_connection_init",
                        "sessionId": body["sessionId"],
                        "packageName": package,
                        "apiKey": key,
                    }
                ),
            )
            await asyncio.wait_for(listener.acked, 30)
            transport.send(
                TEXT,
                msgspec.json.encode(
                    {
                        "type": "subscription_update",
                        "packageName": package,
                        "sessionId": body["sessionId"],
                        "subscriptions": subs,
                    }
                ),
            )
        except Exception:
            self.errors += 1
            return web.json_response({"status": "error"}, status=500)
        session.apps.append(listener)
        return web.json_response({"status": "success"})
