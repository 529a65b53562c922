"""A real Redis server (Debian's `redis-server`, or `valkey-server`) on a free loopback port,
for the cluster tests. No persistence: a restart starts empty, as a Redis without RDB/AOF
does (the harder case for the nodes). The tests that need one are skipped, saying why, only
when neither binary is installed (`scripts/test` installs `redis-server`)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

REDIS_BINARY = shutil.which("redis-server") or shutil.which("valkey-server")
needs_redis = pytest.mark.skipif(
    REDIS_BINARY is None, reason="redis-server (or valkey-server) is not installed"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> RedisServer:
        assert REDIS_BINARY is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        self._proc = await asyncio.create_subprocess_exec(
            REDIS_BINARY,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            "--protected-mode",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return self
            await asyncio.sleep(0.025)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
            await self._proc.wait()
        self._proc = None

    async def restart(self, down_for: float = 0.0) -> None:
        """Kill and start again on the same port (empty), after `down_for` seconds."""
        await self.stop()
        if down_for:
            await asyncio.sleep(down_for)
        await self.start()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    """A fresh Redis for one test (tests/conftest.py registers it)."""
    server = await RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        await server.stop()
