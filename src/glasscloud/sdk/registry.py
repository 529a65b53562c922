"""Handler registrations and the dispatcher that runs them.

A `Registration` is what every `on_...` returns (also when used as a decorator: the
decorated name is bound to it and stays callable). `remove()` takes the handler out again;
for stream handlers that unsubscribes when it was the stream's last handler.

Handlers may be plain functions or coroutine functions. They run one at a time, in the
order events arrived, on a task of their own: a slow handler never stops the socket from
being read (pings answered, close frames seen), and captions are never reordered.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("glasscloud.sdk")


class Registration:
    def __init__(
        self, stream: str, handler: Callable[..., Any], on_remove: Callable[[Registration], None]
    ) -> None:
        self.stream = stream
        self.handler = handler
        self._on_remove: Callable[[Registration], None] | None = on_remove
        self.__wrapped__ = handler
        self.__name__ = getattr(handler, "__name__", "handler")
        self.__doc__ = getattr(handler, "__doc__", None)

    @property
    def active(self) -> bool:
        return self._on_remove is not None

    def remove(self) -> None:
        """Stop calling this handler (idempotent)."""
        on_remove, self._on_remove = self._on_remove, None
        if on_remove is not None:
            on_remove(self)

    unsubscribe = remove

    def __call__(self, *args: Any) -> Any:
        return self.handler(*args)

    def __repr__(self) -> str:
        state = "active" if self.active else "removed"
        return f"<Registration {self.stream} {self.__name__} {state}>"


Emit = Callable[..., None]


class Dispatcher:
    """Runs handler calls sequentially on one task; exceptions are logged, never fatal."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: asyncio.Queue[tuple[Registration, tuple[Any, ...]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def emit(self, registration: Registration, *args: Any) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._queue.put_nowait((registration, args))

    async def drain(self) -> None:
        """Wait until every handler call emitted so far has finished (not from a handler)."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        if self._task is None:
            return
        self._queue.put_nowait(None)
        if asyncio.current_task() is self._task:
            return  # closed from inside a handler: the task ends after this call
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item is None:
                    return
                registration, args = item
                if not registration.active:
                    continue
                result = registration.handler(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("%s: a handler raised", self._name)
            finally:
                self._queue.task_done()
