"""A loopback TCP forwarder a test puts in front of a port, to control the path to it.

- ``refusing = True``: new connections are accepted and reset at once (the peer sees a
  connection error, as when nothing listens), while connections already open keep flowing.
  A test uses it to decide which side reaches a restarted server first.
- ``sever()``: every open connection is reset on both sides, with no close frame: an abnormal
  network loss (the server sees close code 1006), as a phone going through a tunnel does.

Bytes are forwarded unchanged; the gate never looks inside them.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpGate:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.refusing = False
        #: connections reset because the gate was refusing, and connections forwarded
        self.refused = 0
        self.forwarded = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> TcpGate:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._tasks):
            task.cancel()

    def sever(self) -> int:
        """Reset every open connection (both sides); returns how many ends were reset."""
        ends = list(self._open)
        for writer in ends:
            writer.transport.abort()
        self._open.clear()
        return len(ends)

    async def wait_refused(self, count: int, timeout: float) -> None:
        """Until `count` connections in all were refused (AssertionError after `timeout`)."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.refused >= count), timeout
                )
            except TimeoutError:
                raise AssertionError(
                    f"gate :{self.port}: {self.refused} connection(s) refused within "
                    f"{timeout} s, expected {count}"
                ) from None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            async with self._changed:
                self.refused += 1
                self._changed.notify_all()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        async with self._changed:
            self.forwarded += 1
            self._changed.notify_all()
        self._open.update((writer, up_writer))
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._tasks.discard(task)
            for end in (writer, up_writer):
                self._open.discard(end)
                end.close()

    @staticmethod
    async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        """Copy until EOF, then half-close `dst`; a reset on either side resets the other."""
        try:
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
            if dst.can_write_eof() and not dst.transport.is_closing():
                dst.write_eof()
        except (OSError, RuntimeError):
            dst.transport.abort()
