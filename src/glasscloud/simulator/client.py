"""The simulated glasses: a `/glasses-ws` client that sends what commands produce and redraws
the display whenever the cloud changes it. Output is plain `print`-style text through an
injectable `out`, so tests read exactly what a developer would see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.simulator.commands import HELP, CommandError, parse_command
from glasscloud.simulator.hardware import SimulatedHardware
from glasscloud.simulator.reconnect import (
    PHONE_BACKOFF,
    Backoff,
    Verdict,
    after_close,
    after_refused_upgrade,
    after_unreachable,
)
from glasscloud.simulator.render import WIDTH, render_screen
from glasscloud.simulator.state import GlassesState
from glasscloud.simulator.wav import WavError, pcm_frames

Out = Callable[[str], None]


def glasses_ws_url(server: str) -> str:
    """`http://host:8002` -> `ws://host:8002/glasses-ws` (ws/wss URLs are kept)."""
    url = server.strip().rstrip("/")
    for http, ws in (("https://", "wss://"), ("http://", "ws://")):
        if url.startswith(http):
            url = ws + url[len(http) :]
    if not url.startswith(("ws://", "wss://")):
        raise ValueError(f"'{server}' is not an http(s):// or ws(s):// URL")
    return url if url.endswith("/glasses-ws") else url + "/glasses-ws"


class GlassesSimulator:
    """One simulated pair of glasses: commands in, frames out, the display redrawn on every
    change. After a close that says "come back" (see `simulator.reconnect`) it reconnects
    with backoff, showing what it is doing on the status line; a final close ends `run`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        out: Out = print,
        language: str = "en-US",
        frame_interval: float = 0.1,
        width: int = WIDTH,
        clear_screen: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        backoff: Backoff = PHONE_BACKOFF,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        connect_timeout: float = 10.0,
        heartbeat: float | None = 30.0,
    ) -> None:
        self.url = url
        self.state = GlassesState()
        self.language = language
        self.screen = ""
        self._token = token
        self._out = out
        self._frame_interval = frame_interval
        self._width = width
        self._clear = clear_screen
        self._monotonic = monotonic
        self._wall = wall
        self._backoff = backoff
        self._sleep = sleep
        self._connect_timeout = connect_timeout
        self._heartbeat = heartbeat
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._error_code: str | None = None  # of the last connection_error on this socket
        self._link: asyncio.Task[None] | None = None
        self._quitting = False
        self._expiry: asyncio.TimerHandle | None = None
        self._redrawn = asyncio.Condition()
        self.closed = asyncio.Event()  # set once the simulator is disconnected for good
        self.hardware = SimulatedHardware()

    # ---- connection --------------------------------------------------------------------

    @property
    def online(self) -> bool:
        """Connected now (False while reconnecting and after a final close)."""
        return self._ws is not None and not self._ws.closed

    async def connect(self, http: aiohttp.ClientSession) -> None:
        """Open the first connection. Its failure is raised, not retried: a wrong URL or token
        is reported at once. Later losses are reconnected by themselves."""
        self._http = http
        self._ws = await self._open()
        self._link = asyncio.create_task(self._keep_connected(self._ws))

    async def close(self) -> None:
        """Disconnect for good (the user quit): no reconnect follows."""
        self._quitting = True
        if self._expiry is not None:
            self._expiry.cancel()
        if self._ws is not None:
            await self._ws.close()  # ends the read loop, if it is reading
        if self._link is not None:
            self._link.cancel()  # ends a backoff wait or a connection attempt
            with contextlib.suppress(asyncio.CancelledError):
                await self._link
        if self._ws is not None:
            await self._ws.close()  # one that opened while the wait was being cancelled

    async def _open(self) -> aiohttp.ClientWebSocketResponse:
        assert self._http is not None
        self._error_code = None
        headers = {"Authorization": f"Bearer {self._token}"}
        async with asyncio.timeout(self._connect_timeout):
            return await self._http.ws_connect(
                self.url, headers=headers, autoping=True, heartbeat=self._heartbeat
            )

    async def _keep_connected(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Read each connection until it closes, then reconnect unless that close was final
        or the user quit. Attempts count from 0 again after a `connection_ack`."""
        attempt = 0
        try:
            while True:
                if await self._read(ws):
                    attempt = 0
                if self._quitting:
                    return
                self._ws = None
                verdict = after_close(ws.close_code, self._error_code)
                reconnected, attempt = await self._reconnect(verdict, attempt)
                if reconnected is None:
                    return
                self._ws = ws = reconnected
        finally:
            self.state.connected = False
            self.closed.set()

    async def _reconnect(
        self, verdict: Verdict, attempt: int
    ) -> tuple[aiohttp.ClientWebSocketResponse | None, int]:
        """Wait and try again while the verdict allows it; the new socket (None when the end
        is final) and the attempt count."""
        while verdict.reconnect:
            delay = self._backoff.delay(attempt)
            if delay is None:
                verdict = Verdict(False, f"gave up after {attempt} attempts; {verdict.reason}")
                break
            attempt += 1
            self.state.link_status = (
                f"reconnecting in {delay:g} s (attempt {attempt}): {verdict.reason}"
            )
            await self.redraw()
            await self._sleep(delay)
            try:
                ws = await self._open()
            except aiohttp.WSServerHandshakeError as exc:
                verdict = after_refused_upgrade(exc.status)
            except (aiohttp.ClientError, OSError) as exc:  # TimeoutError is an OSError
                verdict = after_unreachable(_unreachable_detail(exc))
            else:
                self.state.link_status = None
                self._out(f"reconnected to {self.url}")
                return ws, attempt
        self.state.link_status = f"closed, not reconnecting: {verdict.reason}"
        await self.redraw()
        return None, attempt

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> bool:
        """Apply the cloud's frames until the socket closes; True if it was acknowledged."""
        acknowledged = False
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(frame, dict):
                    continue
                if (note := self.hardware.observe(frame)) is not None:
                    self._out(note)
                if frame.get("type") == "connection_ack":
                    acknowledged = True
                elif frame.get("type") == "connection_error":
                    self._error_code = str(frame.get("code", ""))
                if self.state.apply(frame, self._monotonic()):
                    await self.redraw()
        finally:
            self.state.connected = False
        return acknowledged

    # ---- display -----------------------------------------------------------------------

    async def redraw(self) -> None:
        now = self._monotonic()
        self.screen = render_screen(self.state, now, self._width)
        self._out(("\x1b[2J\x1b[H" if self._clear else "\n") + self.screen)
        self._schedule_expiry(now)
        async with self._redrawn:
            self._redrawn.notify_all()

    def _schedule_expiry(self, now: float) -> None:
        """Redraw when a `durationMs` runs out, as glasses clear the view by themselves."""
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        expiry = self.state.next_expiry(now)
        if expiry is not None:
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(
                expiry - now + 0.01, lambda: loop.create_task(self.redraw())
            )

    async def wait_for_screen(self, predicate: Callable[[str], bool], timeout: float = 5) -> str:
        """The screen once `predicate(screen)` holds (for tests and scripts)."""
        async with self._redrawn:
            try:
                await asyncio.wait_for(
                    self._redrawn.wait_for(lambda: predicate(self.screen)), timeout
                )
            except TimeoutError:
                raise AssertionError(f"screen never matched; last:\n{self.screen}") from None
        return self.screen

    # ---- commands ----------------------------------------------------------------------

    async def send(self, frame: dict[str, Any]) -> None:
        """Send one frame now; ConnectionResetError while not connected (frames are never
        kept for a later connection: by then they would be stale)."""
        if self._ws is None or self._ws.closed:
            raise ConnectionResetError("not connected")
        await self._ws.send_str(json.dumps(frame))

    async def execute(self, line: str) -> bool:
        """Run one command line; False once the user asked to quit."""
        try:
            command = parse_command(
                line, iso_timestamp(self._wall()), int(self._wall() * 1000), self.language
            )
        except CommandError as error:
            self._out(str(error))
            return True
        if command is None:
            return True
        if command.name == "quit":
            return False
        if (command.frames or command.name in ("wav", "photo")) and not self.online:
            status = self.state.link_status or "disconnected"
            self._out(f"not sent: not connected ({status})")
            return True
        if command.name == "help":
            self._out(HELP.format(language=self.language))
        elif command.name == "show":
            await self.redraw()
        elif command.name == "lang":
            self.language = command.argument
            self._out(f"`say` now speaks {self.language}")
        elif command.name == "wav":
            await self._send_wav(command.argument)
        elif command.name == "setting" and command.request is not None:
            await self._change_setting(**command.request)
        elif command.name == "photo" and self._http is not None:
            self._out(await self.hardware.upload_photo(self._http, command.argument))
        try:
            for frame in command.frames:
                await self.send(frame)
        except (ConnectionError, aiohttp.ClientError):
            self._out(f"not sent: the connection was lost (`{command.name}`)")
        return True

    async def _change_setting(self, package: str, key: str, value: Any) -> None:
        """What the phone's settings screen does: POST /appsettings/{package} {key, value}
        with the user's core token; the server tells the running App."""
        assert self._http is not None
        base = self.url.removesuffix("/glasses-ws")
        base = "http" + base[2:] if base.startswith("ws") else base
        try:
            async with self._http.post(
                f"{base}/appsettings/{package}",
                json={"key": key, "value": value},
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._out(f"setting not changed: {exc or type(exc).__name__}")
            return
        if response.status == 200:
            self._out(f"{package}: {key} = {json.dumps(value)}")
        else:
            error = body.get("error") if isinstance(body, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            self._out(f"setting not changed: {message or f'HTTP {response.status}'}")

    async def _send_wav(self, path: str) -> None:
        try:
            frames = pcm_frames(path)
        except WavError as error:
            self._out(str(error))
            return
        ws = self._ws
        for sent, frame in enumerate(frames):
            # The rest of a file is not sent over a later connection: it would be stale.
            if ws is not self._ws or ws is None or ws.closed:
                self._out(f"connection lost: sent {sent} of {len(frames)} audio frames")
                return
            try:
                await ws.send_bytes(frame)
            except (ConnectionError, aiohttp.ClientError):
                self._out(f"connection lost: sent {sent} of {len(frames)} audio frames")
                return
            if self._frame_interval:
                await asyncio.sleep(self._frame_interval)  # real time, like a microphone
        self._out(f"sent {len(frames)} audio frames ({len(frames) / 10:.1f} s)")

    async def run(self, lines: AsyncIterator[str]) -> None:
        """The interactive loop: execute each line until `quit`, end of input, or the
        connection ending for good (commands typed while reconnecting are refused)."""
        await self.redraw()
        self._out("type a command (help for the list)")
        closed = asyncio.ensure_future(self.closed.wait())
        try:
            iterator = aiter(lines)
            while True:
                next_line = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait(
                    {next_line, closed}, return_when=asyncio.FIRST_COMPLETED
                )
                if closed in done:
                    next_line.cancel()
                    return
                try:
                    line = next_line.result()
                except StopAsyncIteration:
                    return
                if not await self.execute(line):
                    return
        finally:
            closed.cancel()
            await self.close()


def _unreachable_detail(exc: BaseException) -> str:
    """A short cause for the status line ("connection refused", "timed out")."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    cause = getattr(exc, "os_error", None) or exc
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno).lower()
    return str(cause) or type(cause).__name__


async def stdin_lines() -> AsyncIterator[str]:
    """Lines typed on standard input. Read on a daemon thread, so a pending read never keeps
    the process alive after the cloud closed the connection."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop may be gone at exit
            loop.call_soon_threadsafe(queue.put_nowait, line)

    def pump() -> None:
        for line in sys.stdin:
            put(line)
        put(None)

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while (line := await queue.get()) is not None:
        yield line


async def run_simulator(
    server: str,
    token: str,
    *,
    language: str = "en-US",
    clear_screen: bool = False,
    backoff: Backoff = PHONE_BACKOFF,
) -> None:
    """`glasscloud glasses`: connect as the token's user and read commands from stdin,
    reconnecting (with `backoff`) after the server restarts or the connection drops."""
    async with aiohttp.ClientSession() as http:
        simulator = GlassesSimulator(
            glasses_ws_url(server),
            token,
            language=language,
            clear_screen=clear_screen,
            backoff=backoff,
        )
        await simulator.connect(http)
        await simulator.run(stdin_lines())
