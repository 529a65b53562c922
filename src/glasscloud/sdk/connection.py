"""One App WebSocket: open it, authenticate with `tpa_connection_init`, wait for the ack,
then carry frames both ways. Sends go through a queue drained by one writer task, so App
code can call `send` from synchronous handlers and frames keep their order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.jsonio import decode_object
from glasscloud.sdk.errors import CloudError, ConnectError

log = logging.getLogger("glasscloud.sdk")

CLOSE_ABNORMAL = CloseCode.ABNORMAL
ERROR_TYPES = frozenset({"tpa_connection_error", "connection_error"})


@dataclass(frozen=True, slots=True)
class Closed:
    """How a connection ended. `code` 1006 stands for a drop without a close frame."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received frame: a decoded JSON object, or the bytes of a binary (audio) frame."""

    message: dict[str, Any] | None = None
    audio: bytes | None = None


class AppConnection:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._outbox: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    @classmethod
    async def open(
        cls,
        http: aiohttp.ClientSession,
        url: str,
        init_frame: str,
        ack_timeout: float,
    ) -> tuple[AppConnection, dict[str, Any]]:
        """Connect, send the init frame and return the connection with the ack. Raises
        CloudError when the cloud refuses the init, ConnectError for everything else."""
        try:
            ws = await asyncio.wait_for(http.ws_connect(url, autoping=True), ack_timeout)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ConnectError(f"Cannot open {url}: {exc or type(exc).__name__}") from exc
        try:
            await ws.send_str(init_frame)
            ack = await asyncio.wait_for(_wait_ack(ws), ack_timeout)
        except TimeoutError:
            await ws.close()
            raise ConnectError(f"No tpa_connection_ack within {ack_timeout:g} s") from None
        except BaseException:
            await ws.close()
            raise
        return cls(ws), ack

    def send(self, frame: str) -> None:
        self._outbox.put_nowait(frame)

    async def flush(self) -> None:
        """Wait until every queued frame has been handed to the socket."""
        if not self._writer.done():
            await self._outbox.join()

    async def receive(self) -> Incoming | Closed:
        while True:
            msg = await self.ws.receive()
            if msg.type is aiohttp.WSMsgType.TEXT:
                try:
                    return Incoming(message=decode_object(msg.data))
                except ProtocolError as error:
                    log.warning("ignoring a frame from the cloud: %s", error.message)
                    continue
            if msg.type is aiohttp.WSMsgType.BINARY:
                return Incoming(audio=msg.data)
            if msg.type is aiohttp.WSMsgType.CLOSE:
                return Closed(int(msg.data), str(msg.extra or ""))
            if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return Closed(self.ws.close_code or CLOSE_ABNORMAL, "")

    async def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.flush()
        self._outbox.put_nowait(None)
        with contextlib.suppress(Exception):
            await self._writer
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Stop the writer without waiting (the socket is already gone)."""
        self._writer.cancel()

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                if frame is None:
                    return
                if not self.ws.closed:
                    await self.ws.send_str(frame)
            except (ConnectionError, aiohttp.ClientError, RuntimeError) as exc:
                log.debug("send failed, the socket is closing: %s", exc)
            finally:
                self._outbox.task_done()


async def _wait_ack(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    while True:
        msg = await ws.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            try:
                frame = decode_object(msg.data)
            except ProtocolError:
                continue
            if frame["type"] == "tpa_connection_ack":
                return frame
            if frame["type"] in ERROR_TYPES:
                raise CloudError.from_frame(frame)
            log.debug("frame before the ack ignored: %s", frame["type"])
        elif msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.ERROR,
        ):
            code = msg.data if msg.type is aiohttp.WSMsgType.CLOSE else ws.close_code
            raise ConnectError(f"The cloud closed the connection before the ack (code {code})")
