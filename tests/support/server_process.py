"""A real `glasscloud serve` process for tests that need signals (SIGTERM drains and closes
with 1012; SIGKILL loses everything not yet written), on a fixed loopback port and database so
a restart comes back at the same address with the same state.

The server's log (JSON lines on stderr) is kept in :attr:`ServerProcess.log` for assertions
and failure messages; :meth:`log_messages` filters it.

Only `glasscloud serve`'s own flags and environment are used (it has no timing flags, so the
default timings of reference-behavior.md §1 apply: a 60 s glasses grace period, 5 s App
start timeout, 5 s App reconnect grace).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from typing import Any

_START_TIMEOUT = 20.0
_LISTENING = "glasscloud listening"


class ServerProcess:
    """One `python -m glasscloud serve` process. A restart is a new ServerProcess with the
    same arguments (:meth:`again`)."""

    def __init__(
        self,
        port: int,
        database: str,
        secret: str,
        public_url: str | None = None,
        name: str = "server",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.extra_args = extra_args
        self.port = port
        self.database = database
        self.secret = secret
        self.public_url = public_url
        self.name = name
        self.log: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cond = asyncio.Condition()
        self._eof = False

    def again(self, name: str) -> ServerProcess:
        """A not-yet-started process with the same port, database, secret and public URL."""
        return ServerProcess(
            self.port, self.database, self.secret, self.public_url, name, self.extra_args
        )

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    async def start(self) -> ServerProcess:
        """Spawn and wait until the server logs that it listens (RuntimeError otherwise)."""
        args = [
            sys.executable,
            "-m",
            "glasscloud",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database",
            self.database,
            "--asr-provider",
            "phone",
            "--log-level",
            "INFO",
        ]
        if self.public_url:
            args += ["--public-url", self.public_url]
        args += list(self.extra_args)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSCLOUD_")}
        env["GLASSCLOUD_SECRET"] = self.secret
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
            start_new_session=True,
        )
        self._reader = asyncio.create_task(self._read())
        try:
            async with asyncio.timeout(_START_TIMEOUT), self._cond:
                await self._cond.wait_for(lambda: self._listening() or self._eof)
        except TimeoutError:
            pass
        if not self._listening():
            await self.kill()
            raise RuntimeError(
                f"{self.name}: glasscloud serve did not listen on :{self.port} "
                f"(status {self.returncode}); log:\n{self.tail()}"
            )
        return self

    async def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: sockets closed with 1012) and wait for the exit status."""
        return await self._signal(signal.SIGTERM, timeout)

    async def kill(self) -> int | None:
        """SIGKILL: no close frames, nothing flushed."""
        return await self._signal(signal.SIGKILL, 5.0)

    def signal(self, sig: int) -> None:
        """Send a signal without waiting for anything."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def _signal(self, sig: int, timeout: float) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2.0)
        return proc.returncode

    def log_messages(self, text: str) -> list[dict[str, Any]]:
        """Log records whose message contains `text`."""
        return [r for r in self.log if text in str(r.get("msg", ""))]

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.raw[-n:]) or "(no output)"

    def _listening(self) -> bool:
        return any(r.get("msg") == _LISTENING for r in self.log)

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        try:
            while line := await self._proc.stderr.readline():
                text = line.decode("utf-8", "replace").rstrip("\n")
                try:
                    record = json.loads(text)
                except ValueError:
                    record = {"msg": text}
                if not isinstance(record, dict):
                    record = {"msg": text}
                async with self._cond:
                    self.raw.append(text)
                    self.log.append(record)
                    self._cond.notify_all()
        finally:
            async with self._cond:
                self._eof = True
                self._cond.notify_all()
