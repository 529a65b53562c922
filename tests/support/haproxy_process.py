"""A real `haproxy` (Debian's, from PATH) in front of cluster nodes, running the config the
README documents (examples/haproxy.cfg) with only its addresses filled in: the frontend on
a free loopback port, each `server <node-id>` line pointed at that node's port. Its stderr
(server UP/DOWN warnings, request logs) is kept for assertions. Tests that need it are
skipped, saying why, when `haproxy` is not installed (`scripts/test` installs it)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.support.redis_server import free_port

HAPROXY_BINARY = shutil.which("haproxy")
needs_haproxy = pytest.mark.skipif(HAPROXY_BINARY is None, reason="haproxy is not installed")

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "haproxy.cfg"
_SERVER_LINE = re.compile(r"^(\s*server\s+(\S+)\s+)\S+", re.MULTILINE)
_BIND_LINE = re.compile(r"^(\s*bind\s+)\S+", re.MULTILINE)


def render(template: str, port: int, servers: dict[str, int]) -> str:
    """The template with its frontend on 127.0.0.1:`port` and each named server on
    127.0.0.1:`servers[name]` (every server line of the template must be named there)."""
    named = {m[1] for m in _SERVER_LINE.findall(template)}
    assert named == set(servers), f"the config names servers {named}, the test {set(servers)}"
    text, binds = _BIND_LINE.subn(rf"\g<1>127.0.0.1:{port}", template)
    assert binds == 1, "the config should have one bind line"
    return _SERVER_LINE.sub(lambda m: f"{m[1]}127.0.0.1:{servers[m[2]]}", text)


class HAProxy:
    def __init__(self, directory: Path, servers: dict[str, int]) -> None:
        self.port = free_port()
        self.path = directory / "haproxy.cfg"
        self.config = render(EXAMPLE_CONFIG.read_text(), self.port, servers)
        self.lines: list[str] = []
        self.started_at = 0.0  # time.monotonic() when it listened
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._cond = asyncio.Condition()

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> HAProxy:
        assert HAPROXY_BINARY is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.config)
        self._proc = await asyncio.create_subprocess_exec(
            HAPROXY_BINARY,
            "-db",  # foreground
            "-f",
            str(self.path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._reader = asyncio.create_task(self._read())
        for _ in range(200):
            if self._proc.returncode is not None:
                break
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                self.started_at = time.monotonic()
                return self
            await asyncio.sleep(0.025)
        raise RuntimeError(f"haproxy did not listen on {self.port}:\n" + "\n".join(self.lines))

    async def wait_line(self, pattern: str, timeout: float) -> str:
        """The first stderr line matching the regex `pattern` (AssertionError if none)."""
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.lines if regex.search(line)), None)

        try:
            async with asyncio.timeout(timeout), self._cond:
                await self._cond.wait_for(lambda: found() is not None)
        except TimeoutError:
            raise AssertionError(
                f"haproxy never logged {pattern!r}; it logged:\n" + "\n".join(self.lines[-30:])
            ) from None
        line = found()
        assert line is not None
        return line

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 2.0)

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            async with self._cond:
                self.lines.append(line.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
