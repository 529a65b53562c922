"""Start the Node.js conformance App (real, unmodified ``@mentra/sdk``) for a test.

The App lives in ``tests/conformance/sdk-app/app.mjs``. It prints one JSON object per line on
stdout for everything a test may want to check (``{"event": "session", ...}``,
``{"event": "button_press", "data": {...}}``, ...) mixed with the SDK's own log output; only lines
that are JSON objects with an ``"event"`` key are collected in :attr:`SdkApp.events`.

Typical use::

    app = SdkApp()
    await app.start("com.example.conf", "api-key", port)
    try:
        ...  # register app.public_url with the cloud, start the App for a user
        ev = await app.wait_for("button_press", lambda e: e["data"]["buttonId"] == "main")
    finally:
        await app.stop()

Standard library and asyncio only. ``node_modules`` must have been installed with ``npm ci`` in
the sdk-app directory (the test command does this); :func:`ensure_installed` checks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SdkApp", "ensure_installed", "sdk_app_dir"]

_LISTEN_TIMEOUT = 20.0
_STOP_GRACE = 5.0
# Raw output lines kept for error messages (all of them are kept in SdkApp.output).
_TAIL_LINES = 120
# The SDK sometimes logs large payloads on one line; asyncio's default 64 KiB limit is too small.
_READ_LIMIT = 16 * 1024 * 1024
# Environment variables that would make the SDK ship its logs to a third-party service.
_DROP_ENV_PREFIXES = ("BETTERSTACK_",)

_EVENT_MARKER = '{"event":'


def sdk_app_dir() -> Path:
    """Directory of the Node.js conformance App (``tests/conformance/sdk-app``)."""
    return Path(__file__).resolve().parent / "sdk-app"


def ensure_installed() -> None:
    """Raise RuntimeError unless ``npm ci`` has been run in the sdk-app directory."""
    if not (sdk_app_dir() / "node_modules" / "@mentra" / "sdk" / "package.json").is_file():
        raise RuntimeError("run `npm ci` in tests/conformance/sdk-app (the test command does this)")


def _parse_event_line(line: str) -> dict[str, Any] | None:
    """Return the event object on ``line``, or None for SDK noise.

    The App writes each event as one atomic line starting with ``{"event":``. Should another writer
    of the same pipe (the SDK's pino worker thread) ever have left a partial line in front of it,
    the object is still found after that prefix.
    """
    line = line.strip()
    candidates = []
    if line.startswith("{"):
        candidates.append(line)
    idx = line.find(_EVENT_MARKER)
    if idx > 0:
        candidates.append(line[idx:])
    for text in candidates:
        try:
            obj = json.loads(text)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            return obj
    return None


def _short(obj: Any, limit: int = 300) -> str:
    text = json.dumps(obj, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class SdkApp:
    """One ``node app.mjs`` process (an AppServer App on ``@mentra/sdk``) and its event log."""

    def __init__(self, *, node: str | None = None, extra_env: dict[str, str] | None = None) -> None:
        self._node = node
        self._extra_env = dict(extra_env or {})
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cond = asyncio.Condition()
        self._consumed: set[int] = set()
        self._eof = False
        self._port: int | None = None
        #: Every event line the App printed, in order, parsed (``{"event": ..., ...}``).
        self.events: list[dict[str, Any]] = []
        #: Every raw output line (stdout and stderr, merged), without the trailing newline.
        self.output: list[str] = []

    # ------------------------------------------------------------------ properties

    @property
    def public_url(self) -> str:
        """Base URL the cloud must use for this App's webhooks (``http://127.0.0.1:<port>``)."""
        if self._port is None:
            raise RuntimeError("SdkApp.start() has not been called")
        return f"http://127.0.0.1:{self._port}"

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def returncode(self) -> int | None:
        """Exit status of the node process, None while it runs (or before start)."""
        return None if self._proc is None else self._proc.returncode

    # ------------------------------------------------------------------ lifecycle

    async def start(self, package_name: str, api_key: str, port: int) -> None:
        """Spawn the App and wait (≤ 20 s) until its HTTP server listens.

        Raises RuntimeError, with the collected output, if the process exits or does not report
        ``listening`` in time.
        """
        if self._proc is not None:
            raise RuntimeError("SdkApp already started")
        ensure_installed()
        node = self._node or shutil.which("node")
        if not node:
            raise RuntimeError("`node` not found on PATH (Node.js >= 20 is required)")

        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP_ENV_PREFIXES)}
        env.update(self._extra_env)
        env.update(PACKAGE_NAME=package_name, API_KEY=api_key, PORT=str(port))
        self._port = port

        self._proc = await asyncio.create_subprocess_exec(
            node,
            "app.mjs",
            cwd=sdk_app_dir(),  # the SDK's version check reads ./node_modules/@mentra/sdk
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=_READ_LIMIT,
            start_new_session=True,  # a Ctrl-C on the test run reaches it only through stop()
        )
        self._reader = asyncio.create_task(self._read_output(), name=f"sdk-app-{port}-reader")

        def listening() -> bool:
            return any(ev["event"] == "listening" for ev in self.events)

        try:
            async with asyncio.timeout(_LISTEN_TIMEOUT), self._cond:
                await self._cond.wait_for(lambda: listening() or self._eof)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(
                f"SDK App did not report listening on port {port} within {_LISTEN_TIMEOUT:.0f} s; "
                f"output:\n{self._tail()}"
            ) from None
        if not listening():
            await self.stop()
            raise RuntimeError(
                f"SDK App exited (status {self.returncode}) before listening on port {port}; "
                f"output:\n{self._tail()}"
            )

    async def stop(self) -> None:
        """SIGTERM the App, wait up to 5 s, then SIGKILL. Safe to call more than once."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), _STOP_GRACE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        reader = self._reader
        if reader is not None and not reader.done():
            try:
                await asyncio.wait_for(asyncio.shield(reader), 2.0)
            except TimeoutError:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader

    async def kill(self) -> None:
        """SIGKILL, as a crash would: no clean close, no ownership_release."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        await self.stop()

    async def __aenter__(self) -> SdkApp:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ events

    async def wait_for(
        self,
        event: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Return the first not-yet-consumed event named ``event`` (and matching ``predicate``).

        Earlier events are searched too, so it does not matter whether the event arrived before or
        after the call. The returned event is marked consumed; a second call finds the next one.
        Raises AssertionError listing the events seen if none arrives within ``timeout`` seconds
        (or the App has exited without printing one).
        """

        def find() -> int | None:
            for i, ev in enumerate(self.events):
                if i in self._consumed or ev.get("event") != event:
                    continue
                if predicate is None or predicate(ev):
                    return i
            return None

        found: int | None = None
        try:
            async with asyncio.timeout(timeout), self._cond:
                while (found := find()) is None and not self._eof:
                    await self._cond.wait()
        except TimeoutError:
            pass
        if found is None:
            found = find()  # lines may have landed between the timeout and here
        if found is None:
            why = (
                f"the App exited (status {self.returncode})"
                if self._eof
                else f"not within {timeout} s"
            )
            seen = "\n".join(
                f"  [{i}]{' (consumed)' if i in self._consumed else ''} {_short(ev)}"
                for i, ev in enumerate(self.events)
            )
            raise AssertionError(
                f"SDK App event {event!r}"
                f"{' matching the predicate' if predicate else ''}: {why}. "
                f"Events seen ({len(self.events)}):\n{seen or '  (none)'}"
                + (f"\nLast output:\n{self._tail(40)}" if self._eof else "")
            )
        self._consumed.add(found)
        return self.events[found]

    def events_named(self, event: str) -> list[dict[str, Any]]:
        """All events with this name so far (consumed or not), without waiting."""
        return [ev for ev in self.events if ev.get("event") == event]

    # ------------------------------------------------------------------ internals

    async def _read_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        stream = self._proc.stdout
        try:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # a line beyond _READ_LIMIT: drop what is buffered
                    raw = b"<line too long, dropped>\n"
                    with contextlib.suppress(Exception):
                        await stream.read(_READ_LIMIT)
                if not raw:
                    break
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                ev = _parse_event_line(line)
                async with self._cond:
                    self.output.append(line)
                    if ev is not None:
                        self.events.append(ev)
                    self._cond.notify_all()
        finally:
            # Reap the process so returncode is set before waiters look at it.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._proc.wait(), 1.0)
            async with self._cond:
                self._eof = True
                self._cond.notify_all()

    def _tail(self, n: int = _TAIL_LINES) -> str:
        lines = self.output[-n:]
        return "\n".join(lines) if lines else "(no output)"
