"""Runs `NetworkProvider` streams as tasks on the event loop: one task per stream, fed from
a bounded queue. Recognition happens on the remote service; this code only moves bytes, so
the loop is never busy for long. The task's end is the stream's end: it returning means
closed, it raising means failed (the hub retries)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from glasscloud.asr.provider import END_UTTERANCE, NetworkProvider, _EndUtterance
from glasscloud.core.transcription import RecognizerSink

log = logging.getLogger("glasscloud.asr")

MAX_QUEUED_CHUNKS = 300  # ~30 s of 100 ms frames: a service that slow is failing anyway


class NetworkBackend:
    """`RecognizerBackend` for a `NetworkProvider`."""

    def __init__(
        self, provider: NetworkProvider, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.name = provider.name
        self.provider = provider
        self._loop = loop
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped_chunks = 0

    def language_for(self, language: str) -> str | None:
        return self.provider.language_for(language)

    def open(self, language: str, sink: RecognizerSink) -> NetworkStream:
        stream = NetworkStream(self)
        loop = self._loop or asyncio.get_running_loop()
        task = loop.create_task(self._run(language, stream, sink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        stream.task = task
        return stream

    async def _run(self, language: str, stream: NetworkStream, sink: RecognizerSink) -> None:
        try:
            await self.provider.stream(language, stream.items(), sink.result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            sink.failed(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return
        if not stream.closing:
            sink.failed("the service ended the stream")
        else:
            sink.closed()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()


class NetworkStream:
    """The hub's handle on one network stream; the provider reads `items()`."""

    def __init__(self, backend: NetworkBackend) -> None:
        self.backend = backend
        self.queue: asyncio.Queue[bytes | _EndUtterance | None] = asyncio.Queue()
        self.closing = False
        self.task: asyncio.Task[None] | None = None

    def feed(self, pcm: bytes) -> None:
        if self.closing:
            return
        if self.queue.qsize() >= MAX_QUEUED_CHUNKS:
            self.backend.dropped_chunks += 1
            return
        self.queue.put_nowait(pcm)

    def end_utterance(self) -> None:
        if not self.closing:
            self.queue.put_nowait(END_UTTERANCE)

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.queue.put_nowait(None)

    async def items(self) -> AsyncIterator[bytes | _EndUtterance]:
        while True:
            item = await self.queue.get()
            if item is None:
                return
            yield item
