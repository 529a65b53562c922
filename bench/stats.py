"""Process CPU/RSS readings, percentiles, and the process limits a bench needs."""

from __future__ import annotations

import contextlib
import os
import resource
import statistics
from collections.abc import Sequence

import psutil


class ProcStats:
    """CPU seconds and RSS of one process (plus its children), read from /proc."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)

    def _procs(self) -> list[psutil.Process]:
        procs = [self.proc]
        with contextlib.suppress(psutil.Error):
            procs += self.proc.children(recursive=True)
        return procs

    def cpu(self) -> float:
        total = 0.0
        for proc in self._procs():
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    def syscalls(self) -> tuple[int, int]:
        """(read, write) syscalls of the server process so far (/proc/PID/io syscr/syscw:
        a transport write is one write/writev), (0, 0) where not readable."""
        try:
            io = self.proc.io_counters()
        except (psutil.Error, AttributeError):
            return 0, 0
        return io.read_count, io.write_count

    def thread_cpu(self) -> tuple[float, float]:
        """(event-loop thread, all other threads) CPU seconds of the server process: the
        store's worker thread competes with the loop for the GIL and the core."""
        main = other = 0.0
        try:
            for thread in self.proc.threads():
                cpu = thread.user_time + thread.system_time
                if thread.id == self.proc.pid:
                    main += cpu
                else:
                    other += cpu
        except psutil.Error:
            pass
        return main, other

    def rss(self) -> int:
        total = 0
        for proc in self._procs():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of unsorted values; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100.0 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def raise_nofile() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the new limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def pin(cpu: int) -> None:
    """Pin this process to one core (ignored where affinity is not supported)."""
    try:
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})
    except (AttributeError, OSError):
        pass
