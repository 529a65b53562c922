"""The simulated glasses: a `/glasses-ws` client that sends what commands produce and redraws
the display whenever the cloud changes it. Output is plain `print`-style text through an
injectable `out`, so tests read exactly what a developer would see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp

from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.simulator.commands import HELP, CommandError, parse_command
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
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._redrawn = asyncio.Condition()
        self.closed = asyncio.Event()

    # ---- connection --------------------------------------------------------------------

    async def connect(self, http: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        self._ws = await http.ws_connect(self.url, headers=headers, autoping=True)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    with contextlib.suppress(ValueError):
                        frame = json.loads(msg.data)
                        if isinstance(frame, dict) and self.state.apply(frame, self._monotonic()):
                            await self.redraw()
        finally:
            self.state.connected = False
            self._out(f"disconnected (code {self._ws.close_code})")
            self.closed.set()

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
        assert self._ws is not None
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
        if command.name == "help":
            self._out(HELP.format(language=self.language))
        elif command.name == "show":
            await self.redraw()
        elif command.name == "lang":
            self.language = command.argument
            self._out(f"`say` now speaks {self.language}")
        elif command.name == "wav":
            await self._send_wav(command.argument)
        for frame in command.frames:
            await self.send(frame)
        return True

    async def _send_wav(self, path: str) -> None:
        try:
            frames = pcm_frames(path)
        except WavError as error:
            self._out(str(error))
            return
        assert self._ws is not None
        for frame in frames:
            await self._ws.send_bytes(frame)
            if self._frame_interval:
                await asyncio.sleep(self._frame_interval)  # real time, like a microphone
        self._out(f"sent {len(frames)} audio frames ({len(frames) / 10:.1f} s)")

    async def run(self, lines: AsyncIterator[str]) -> None:
        """The interactive loop: execute each line until `quit`, end of input, or the cloud
        closing the connection."""
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
    server: str, token: str, *, language: str = "en-US", clear_screen: bool = False
) -> None:
    """`glasscloud glasses`: connect as the token's user and read commands from stdin."""
    async with aiohttp.ClientSession() as http:
        simulator = GlassesSimulator(
            glasses_ws_url(server), token, language=language, clear_screen=clear_screen
        )
        await simulator.connect(http)
        await simulator.run(stdin_lines())
