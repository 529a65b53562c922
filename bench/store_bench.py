"""Store benchmark: wall and CPU milliseconds per call on a fresh SQLite file, sequential and
500 concurrent, for the operations a glasses session start makes.

    taskset -c 0 .venv/bin/python -m bench.store_bench [--calls 500]

Pins nothing itself: run it under taskset so the CPU time is one core's. CPU time counts every
thread of the process (the Store's worker thread included).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from glasscloud.store.store import Store

WARMUP = 50


async def main(calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="store-bench-") as directory:
        store = await Store.open(f"sqlite:///{Path(directory) / 'bench.db'}")
        try:
            await store.create_app("com.x", "x", "http://127.0.0.1:1", permissions=["MICROPHONE"])
            operations: list[tuple[str, Callable[[int], Awaitable[object]]]] = [
                ("get_app", lambda i: store.get_app("com.x")),
                ("get_user", lambda i: store.get_user(f"u{i}@x")),
                ("get_app_settings", lambda i: store.get_app_settings(f"u{i}@x", "com.x")),
                ("set_running_apps", lambda i: store.set_running_apps(f"u{i}@x", ["com.x"])),
            ]
            for name, fn in operations:
                for i in range(WARMUP):
                    await fn(i)
                cpu, wall = time.process_time(), time.perf_counter()
                for i in range(calls):
                    await fn(i)
                _report(name, "sequential", calls, cpu, wall)
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.gather(*(fn(i) for i in range(calls)))
                _report(name, f"{calls} concurrent", calls, cpu, wall)
        finally:
            await store.close()


def _report(name: str, mode: str, calls: int, cpu: float, wall: float) -> None:
    wall_ms = 1e3 * (time.perf_counter() - wall) / calls
    cpu_ms = 1e3 * (time.process_time() - cpu) / calls
    print(f"{name:18s} wall {wall_ms:.2f} ms  cpu {cpu_ms:.2f} ms ({mode})")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.calls))
    else:
        uvloop.run(main(args.calls))


if __name__ == "__main__":
    run()
