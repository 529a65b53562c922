"""Event-loop stalls and garbage-collector pauses inside a bench server, by wall-clock time.

A p99 in milliseconds is made by the moments the loop does not run: one long callback, one
burst of work, one full GC. The monitor wakes every 2 ms and records each time it
woke more than `STALL_MS` late, and times every GC pass; the load generator keeps the ones
inside its measured window. (This is how the liveness sweep that stalled the loop ~80 ms
every 10 s was found.) Overhead: one 2-ms timer, under 1 % of a core.

With `stacks_path`, a watchdog thread writes the Python stack of every thread there
(`faulthandler.dump_traceback`) whenever the loop has not ticked for `WATCHDOG_S`: what
the loop was doing during a long stall. The loop only stores a timestamp per tick; the
thread wakes every 0.1 s (re-arming `faulthandler.dump_traceback_later` per tick instead
joins and starts a thread each time, which on a busy core blocked the loop for
milliseconds and cost the light-load p50 ~2 ms). `on_stall(ms)` is called on the first tick after
a stall over `BIG_STALL_MS` (bench.serve dumps the sockets' writer states then).
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import json
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

STALL_MS = 5.0
TICK_S = 0.002
GC_MS = 2.0
_KEEP = 20_000  # bounded: at most this many of each kind are kept
WATCHDOG_S = 0.5  # no tick for this long: dump every thread's stack
WATCH_EVERY_S = 0.1
BIG_STALL_MS = 300.0


class StallMonitor:
    def __init__(
        self,
        stacks_path: str | None = None,
        on_stall: Callable[[float], None] | None = None,
    ) -> None:
        self.stalls: list[tuple[float, float]] = []  # (unix time, ms late)
        self.gc_pauses: list[tuple[float, int, float]] = []  # (unix time, generation, ms)
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._stacks: TextIO | None = open(stacks_path, "w") if stacks_path else None  # noqa: SIM115
        self._on_stall = on_stall
        self._beat = time.monotonic()

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)
        self._task = asyncio.get_running_loop().create_task(self._watch())
        if self._stacks is not None:
            threading.Thread(target=self._watchdog, name="stall-watchdog", daemon=True).start()

    def _watchdog(self) -> None:
        stacks = self._stacks
        assert stacks is not None
        dumped_for = 0.0
        while True:
            time.sleep(WATCH_EVERY_S)
            beat = self._beat
            if time.monotonic() - beat > WATCHDOG_S and beat != dumped_for:
                dumped_for = beat  # once per stall (the next dump after the next tick)
                stacks.write(f"Timeout ({WATCHDOG_S} s without a tick)!\n")
                stacks.flush()
                faulthandler.dump_traceback(file=stacks, all_threads=True)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        stacks = self._stacks
        while True:
            self._beat = time.monotonic()
            before = loop.time()
            await asyncio.sleep(TICK_S)
            late_ms = (loop.time() - before - TICK_S) * 1000
            if late_ms > STALL_MS and len(self.stalls) < _KEEP:
                self.stalls.append((time.time(), round(late_ms, 1)))
                if late_ms > BIG_STALL_MS:
                    if stacks is not None:  # the dumps above this line are this stall's
                        stacks.write(f"--- stall of {late_ms:.0f} ms ended {time.time():.3f}\n")
                        stacks.flush()
                    if self._on_stall is not None:
                        self._on_stall(late_ms)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
            return
        ms = (time.perf_counter() - self._gc_started) * 1000
        if ms > GC_MS and len(self.gc_pauses) < _KEEP:
            self.gc_pauses.append((time.time(), info["generation"], round(ms, 2)))

    def dump(self, path: str) -> None:
        with open(path, "w") as out:
            json.dump({"stalls": self.stalls, "gc_pauses": self.gc_pauses}, out)


def summarise(path: str, window: tuple[float, float]) -> dict[str, Any]:
    """The stalls and GC pauses of a dump that fall inside `window` (unix seconds)."""
    try:
        with open(path) as src:
            data = json.load(src)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    start, end = window
    stalls = [ms for t, ms in data["stalls"] if start <= t <= end]
    pauses = [(gen, ms) for t, gen, ms in data["gc_pauses"] if start <= t <= end]
    return {
        "stalls_over_5ms": len(stalls),
        "stalls_over_20ms": sum(1 for ms in stalls if ms > 20),
        "stall_max_ms": max(stalls, default=0.0),
        "stalled_ms_total": round(sum(stalls), 1),
        "gc_pauses_over_2ms": len(pauses),
        "gc_full_collections": sum(1 for gen, _ in pauses if gen == 2),
        "gc_pause_max_ms": max((ms for _, ms in pauses), default=0.0),
    }
