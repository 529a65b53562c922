"""Waiting for SIGINT/SIGTERM in an asyncio program (the server and the SDK's AppServer)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable


async def until_stop_signal() -> None:
    """Return when the process receives SIGINT or SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()


def on_second_signal(action: Callable[[], None]) -> None:
    """From now on (a graceful stop has begun) SIGINT or SIGTERM again runs `action`: the
    operator insists, so the stop must not wait any longer."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, action)
