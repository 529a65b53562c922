"""Worker processes for local (CPU) recognisers.

Each worker process hosts many streams and runs them one message at a time. The event loop
never waits on a worker: commands go into a per-worker outbox that a writer thread drains
into the pipe, and a reader thread hands every answer back with `call_soon_threadsafe`.
Processes, not threads: PocketSphinx holds the GIL while it decodes (a decoding thread stalled
the loop for 0.8 s in our measurement), which would delay every relayed frame.

A stream goes to the live worker with the fewest streams; workers start on first use (spawn,
never fork: the server has threads and an event loop) and stay. A dead worker (crash, kill,
out of memory) fails each of its streams; the hub retries them, which starts a new worker.
When a worker falls behind, its audio backlog is capped (`MAX_BACKLOG_CHUNKS`): newer audio is
dropped and counted rather than letting captions lag further and further.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from glasscloud.asr.provider import LocalProvider
from glasscloud.core.transcription import Hypothesis, RecognizerSink

log = logging.getLogger("glasscloud.asr")

MAX_BACKLOG_CHUNKS = 600  # per worker; ~60 s of one stream's 100 ms frames


class ProcessBackend:
    """`RecognizerBackend` for a `LocalProvider`: streams run in worker processes."""

    def __init__(
        self,
        class_path: str,
        provider: LocalProvider,
        options: Mapping[str, str],
        processes: int = 0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.name = provider.name
        self._provider = provider
        self._class_path = class_path
        self._options = dict(options)
        self.processes = processes or os.cpu_count() or 1
        self._loop = loop
        self._workers: list[_Worker] = []
        self._next_id = 0
        self.dropped_chunks = 0
        self.closed = False

    def language_for(self, language: str) -> str | None:
        return self._provider.language_for(language)

    def open(self, language: str, sink: RecognizerSink) -> ProcessStream:
        if self.closed:
            raise RuntimeError("the recognition backend is shut down")
        self._workers = [w for w in self._workers if w.alive]
        worker = min(self._workers, key=lambda w: len(w.streams), default=None)
        if worker is None or (worker.streams and len(self._workers) < self.processes):
            worker = _Worker(self, self._loop or asyncio.get_running_loop())
            self._workers.append(worker)
        self._next_id += 1
        return worker.open(self._next_id, language, sink)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.alive and w.process.pid]

    @property
    def stream_count(self) -> int:
        return sum(len(w.streams) for w in self._workers if w.alive)

    def close(self) -> None:
        """Stop every worker (their streams are abandoned: the server is shutting down)."""
        self.closed = True
        for worker in self._workers:
            worker.stop()
        self._workers.clear()


class ProcessStream:
    """The hub's handle on one stream in a worker."""

    __slots__ = ("closing", "stream_id", "worker")

    def __init__(self, worker: _Worker, stream_id: int) -> None:
        self.worker = worker
        self.stream_id = stream_id
        self.closing = False

    def feed(self, pcm: bytes) -> None:
        if not self.closing:
            self.worker.send(("feed", self.stream_id, pcm), droppable=True)

    def end_utterance(self) -> None:
        if not self.closing:
            self.worker.send(("end", self.stream_id))

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.worker.send(("close", self.stream_id))


class _Worker:
    def __init__(self, backend: ProcessBackend, loop: asyncio.AbstractEventLoop) -> None:
        self.backend = backend
        self.loop = loop
        self.streams: dict[int, RecognizerSink] = {}
        self.alive = True
        ctx = multiprocessing.get_context("spawn")
        cmd_read, self._cmd = ctx.Pipe(duplex=False)
        self._events, evt_write = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=worker_main,
            args=(backend._class_path, backend._options, cmd_read, evt_write),
            name="glasscloud-asr",
            daemon=True,
        )
        self.process.start()
        cmd_read.close()
        evt_write.close()
        self._outbox: deque[tuple[Any, ...] | None] = deque()
        self._audio_backlog = 0
        self._wake = threading.Condition()
        threading.Thread(target=self._write, name="asr-writer", daemon=True).start()
        threading.Thread(target=self._read, name="asr-reader", daemon=True).start()

    def open(self, stream_id: int, language: str, sink: RecognizerSink) -> ProcessStream:
        self.streams[stream_id] = sink
        self.send(("open", stream_id, language))
        return ProcessStream(self, stream_id)

    def send(self, message: tuple[Any, ...], droppable: bool = False) -> None:
        if not self.alive:
            return
        with self._wake:
            if droppable:
                if self._audio_backlog >= MAX_BACKLOG_CHUNKS:
                    self.backend.dropped_chunks += 1
                    return
                self._audio_backlog += 1
            self._outbox.append(message)
            self._wake.notify()

    def stop(self) -> None:
        self.alive = False
        with self._wake:
            self._outbox.append(None)
            self._wake.notify()
        with contextlib.suppress(Exception):
            self.process.terminate()

    # ---- threads ---------------------------------------------------------------------

    def _write(self) -> None:
        while True:
            with self._wake:
                while not self._outbox:
                    self._wake.wait()
                message = self._outbox.popleft()
                if message is not None and message[0] == "feed":
                    self._audio_backlog -= 1
            if message is None:
                break
            try:
                self._cmd.send(message)
            except (OSError, ValueError):
                break
        with contextlib.suppress(OSError):
            self._cmd.close()

    def _read(self) -> None:
        while True:
            try:
                event = self._events.recv()
            except (EOFError, OSError):
                break
            with contextlib.suppress(RuntimeError):  # loop closed
                self.loop.call_soon_threadsafe(self._dispatch, event)
        self.process.join(2)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._died)

    # ---- on the loop -----------------------------------------------------------------

    def _dispatch(self, event: tuple[Any, ...]) -> None:
        kind, stream_id = event[0], event[1]
        sink = self.streams.get(stream_id)
        if sink is None:
            return
        if kind == "result":
            sink.result(Hypothesis(*event[2]))
        elif kind == "failed":
            del self.streams[stream_id]
            sink.failed(event[2])
        elif kind == "closed":
            del self.streams[stream_id]
            sink.closed()

    def _died(self) -> None:
        was_alive, self.alive = self.alive, False
        with self._wake:
            self._outbox.append(None)
            self._wake.notify()
        if not was_alive and self.backend.closed:
            return
        code = self.process.exitcode
        reason = f"recognition worker process exited (code {code})"
        if self.streams:
            log.warning(reason, extra={"pid": self.process.pid})
        streams, self.streams = self.streams, {}
        for sink in streams.values():
            sink.failed(reason)


# ---- inside the worker process ---------------------------------------------------------


def worker_main(
    class_path: str, options: Mapping[str, str], commands: Connection, events: Connection
) -> None:
    """Run streams until the server closes the pipe. Each provider error fails only its own
    stream; the process lives on."""
    from glasscloud.asr.registry import load_class

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server handles Ctrl-C and stops us
    provider = load_class(class_path)(options)
    assert isinstance(provider, LocalProvider)
    recognizers: dict[int, Any] = {}
    while True:
        try:
            message = commands.recv()
        except (EOFError, OSError):
            return
        op, stream_id = message[0], message[1]
        try:
            if op == "open":
                recognizers[stream_id] = provider.open(message[2])
                continue
            recognizer = recognizers.get(stream_id)
            if recognizer is None:
                continue
            if op == "feed":
                results = recognizer.feed(message[2])
            elif op == "end":
                results = recognizer.end_utterance()
            else:
                del recognizers[stream_id]
                results = recognizer.close()
            for hyp in results:
                events.send(
                    (
                        "result",
                        stream_id,
                        (
                            hyp.text,
                            hyp.is_final,
                            hyp.start_ms,
                            hyp.end_ms,
                            hyp.speaker_id,
                            hyp.confidence,
                        ),
                    )
                )
            if op == "close":
                events.send(("closed", stream_id))
        except (BrokenPipeError, EOFError):
            return
        except Exception as exc:
            recognizers.pop(stream_id, None)
            try:
                events.send(("failed", stream_id, f"{type(exc).__name__}: {exc}"))
            except OSError:
                return
