"""The glasscloud server as the benchmarks run it: the real `start_server` in one process on
uvloop, pinned to a core, logging at WARNING (per-session INFO lines would dominate the
10,000-session setup). SIGUSR1 writes the server's counters (drops, deliveries) as JSON to
`--metrics-out`, and its event-loop stalls and GC pauses to `<metrics-out>.stalls.json`
(bench/stalls.py); SIGTERM stops it gracefully.

    .venv/bin/python -m bench.serve --port 8300 --database sqlite:////tmp/b.db --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import signal
import time
from typing import Any

import uvloop

from bench.stalls import StallMonitor
from bench.stats import pin, raise_nofile
from glasscloud.server.config import ServerConfig
from glasscloud.server.logs import setup_logging
from glasscloud.server.run import freeze_startup_objects, start_server, stop_server

# Saturation runs push each socket past the default inbound limits (200 msg/s per
# connection, 1,000 per user) on purpose; they lift them. The mix runs keep the defaults.
UNLIMITED = {
    "connection_rate": 1e9,
    "connection_burst": 1e9,
    "user_rate": 1e9,
    "user_burst": 1e9,
}


def apply_variants(names: list[str]) -> dict[str, object]:
    """Measurement aids for the latency hunt (docs/performance.md): each variant removes or
    changes one suspect, so an A/B in one run can price it. Returns config overrides."""
    overrides: dict[str, object] = {}
    for name in names:
        if name == "write-now":  # no batching per loop pass: write each frame at once
            from glasscloud.server.connection import WsConnection

            WsConnection._schedule = WsConnection._write  # type: ignore[method-assign]
        elif name == "first-now":  # the first frame of every pass at once, bursts or not
            from glasscloud.server.connection import WsConnection

            def first_now(self: WsConnection) -> None:
                if not (self._scheduled or self._behind or self._done):
                    self._scheduled = True
                    self._loop.call_soon(self._flush_cb)
                    self._write()

            WsConnection._schedule = first_now  # type: ignore[method-assign]
        elif name == "batch":  # every frame waits for the end of the loop pass (as main)
            from glasscloud.server.connection import WsConnection

            def schedule(self: WsConnection) -> None:
                if not (self._scheduled or self._behind or self._done):
                    self._scheduled = True
                    self._loop.call_soon(self._flush_cb)

            WsConnection._schedule = schedule  # type: ignore[method-assign]
        elif name == "no-limits":  # no token buckets or size check on inbound frames
            from glasscloud.server.inbound import InboundGuard

            InboundGuard.admit = lambda self, size, now: True  # type: ignore[method-assign]
        elif name == "no-liveness":  # no pings (the liveness monitor's slices)
            overrides["ping_interval"] = 0.0
        elif name == "no-stalls":  # no stall monitor (its 2 ms timer)
            overrides["no_stalls"] = True
        elif name == "gc-time":  # time spent in each GC generation (bench/session_open.py)
            overrides["gc_time"] = True
        elif name.startswith("gc-threshold="):  # e.g. gc-threshold=10000:10:10
            overrides["gc_threshold"] = tuple(int(x) for x in name.split("=")[1].split(":"))
        elif name == "no-gc":  # the collector off: what the collector costs, at most
            overrides["no_gc"] = True
        elif name == "cprofile":  # cProfile the event loop's thread until SIGTERM
            overrides["cprofile"] = True
        elif name == "count-store":  # count Store operations (bench/session_open.py)
            overrides["count_store"] = True
        else:
            raise SystemExit(f"unknown variant {name}")
    return overrides


def time_gc() -> dict[str, float]:
    """Seconds spent in each collector generation (and passes), live (gc.callbacks)."""
    totals: dict[str, float] = {}
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        gen = str(info["generation"])
        totals[gen] = totals.get(gen, 0.0) + time.perf_counter() - started[0]
        totals["passes" + gen] = totals.get("passes" + gen, 0) + 1

    gc.callbacks.append(callback)
    return totals


def count_store_operations() -> dict[str, int]:
    """Count every Store operation by name (one transaction each: `Store._run` is the one
    funnel to the database). Returns the live counts."""
    from glasscloud.store.store import Store

    counts: dict[str, int] = {}
    run = Store._run

    async def counted(self: Store, fn: Any, *args: Any, **kwargs: Any) -> Any:
        name = fn.__qualname__.split(".<locals>")[0].rpartition(".")[2] or fn.__qualname__
        counts[name] = counts.get(name, 0) + 1
        return await run(self, fn, *args, **kwargs)

    Store._run = counted  # type: ignore[method-assign]
    return counts


async def _main(args: argparse.Namespace) -> None:
    overrides = apply_variants([v for v in args.variant.split(",") if v])
    timings = ServerConfig().timings
    if "ping_interval" in overrides:
        timings = dataclasses.replace(timings, ping_interval=overrides["ping_interval"])
    config = ServerConfig(
        host="127.0.0.1",
        port=args.port,
        database=args.database,
        secret=args.secret,
        log_level="WARNING",
        app_send_queue=args.app_queue,
        timings=timings,
        **(UNLIMITED if args.no_rate_limit else {}),
    )
    store_ops = count_store_operations() if overrides.get("count_store") else None
    gc_time = time_gc() if overrides.get("gc_time") else None
    server = await start_server(config)
    freeze_startup_objects()  # as `glasscloud serve` does
    if overrides.get("no_gc"):
        gc.disable()
    if "gc_threshold" in overrides:
        gc.set_threshold(*overrides["gc_threshold"])  # type: ignore[misc]
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    stalls = StallMonitor()
    if not overrides.get("no_stalls"):
        stalls.start()

    def dump() -> None:
        stalls.dump(args.metrics_out + ".stalls.json")
        items = [{"name": n, "labels": lb, "value": v} for n, lb, v in server.metrics.items()]
        for gen, seconds in (gc_time or {}).items():
            items.append({"name": "gc_seconds", "labels": {"generation": gen}, "value": seconds})
        for op, count in (store_ops or {}).items():
            items.append({"name": "store_operations", "labels": {"op": op}, "value": count})
        with open(args.metrics_out, "w") as out:
            json.dump(items, out)

    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGUSR1, dump)
    profiler = None
    if overrides.get("cprofile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    print("READY", flush=True)
    await stopping.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.metrics_out + ".prof")
    await stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--app-queue", type=int, default=1024)
    parser.add_argument("--metrics-out", default="/tmp/glasscloud-bench-metrics.json")
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--no-rate-limit", action="store_true")
    parser.add_argument("--variant", default="", help="comma-separated, see apply_variants")
    args = parser.parse_args()
    pin(args.cpu)
    raise_nofile()
    setup_logging("WARNING")
    uvloop.run(_main(args))


if __name__ == "__main__":
    main()
