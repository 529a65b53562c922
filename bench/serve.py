"""The glasscloud server as the benchmarks run it: the real `start_server` in one process on
uvloop, pinned to a core, logging at WARNING (per-session INFO lines would dominate the
10,000-session setup; GCBENCH_LOG_LEVEL=INFO for a diagnosis). SIGUSR1 writes the server's
counters (drops, deliveries) as JSON to `--metrics-out`, and its event-loop stalls and GC
pauses to `<metrics-out>.stalls.json` (bench/stalls.py); SIGUSR2 writes where every asyncio
task waits to `<metrics-out>.tasks.txt`. SIGTERM stops it gracefully (in cluster mode,
`--redis`, that is the node's drain: leases released at once, glasses closed with 1012).
For the stall hunt it also keeps, in `<metrics-out>.writers.jsonl`, the writer state of
every socket that is behind (or silent for over 5 s) after each loop stall over 300 ms and
on SIGUSR1, and of every socket that liveness drops, at the moment it drops it; and in
`<metrics-out>.stacks.txt` the Python stacks of all threads during any stall over 0.5 s
(bench/stalls.py).

    .venv/bin/python -m bench.serve --port 8300 --database sqlite:////tmp/b.db --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
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


def writer_state(conn: Any, now: float) -> dict[str, object]:
    """What one socket's write side is doing (bench introspection of private state)."""
    transport = conn._transport
    stats = conn.stats
    return {
        "side": stats.side,
        "user": stats.user_id,
        "package": stats.package_name,
        "silent_s": round(now - stats.last_rx, 3),
        "behind": conn._behind,
        "queued": conn._out.queued,
        "ping_waiting": conn._out._ping is not None,
        "transport_buffer": transport.get_write_buffer_size(),
        "transport_closing": transport.is_closing(),
        "writer_done": conn._writer is not None and conn._writer.done(),
        "writer_started": conn._writer is not None,
        "pings": stats.pings,
        "pongs": stats.pongs,
        "messages_in": stats.messages_in,
        "messages_out": stats.messages_out,
        "queued_max": stats.queued_max,
        "dropped": stats.dropped,
        "rtts_ms": list(stats.rtts_ms),
    }


def watch_writers(server: Any, path: str) -> Any:
    """Record writer states in `path` (JSON lines): returns `dump(why)`, and wraps
    `WsConnection.kill` so every liveness drop records the socket as it was."""
    from glasscloud.server.connection import WsConnection

    out = open(path, "a")  # noqa: SIM115
    loop = asyncio.get_running_loop()

    def write(why: str, states: list[dict[str, object]]) -> None:
        out.write(json.dumps({"t": time.time(), "why": why, "sockets": states}) + "\n")
        out.flush()

    def dump(why: str) -> None:
        now = loop.time()
        states = [writer_state(c, now) for c in list(server.connections)]
        notable = [s for s in states if s["behind"] or s["silent_s"] > 5]  # type: ignore[operator]
        behind = sum(1 for s in states if s["behind"])
        write(f"{why}: {len(states)} sockets, {behind} behind", notable[:200])

    original = WsConnection.kill

    def kill(self: WsConnection, reason: str) -> None:
        write(f"kill: {reason}", [writer_state(self, loop.time())])
        original(self, reason)

    WsConnection.kill = kill  # type: ignore[method-assign]
    return dump


def apply_variants(names: list[str]) -> dict[str, object]:
    """Measurement aids for the latency hunt (docs/performance.md): each variant removes or
    changes one suspect, so an A/B in one run can price it. Returns config overrides."""
    overrides: dict[str, object] = {}
    for name in names:
        if name == "write-now":  # no batching at all: write each frame at once
            from glasscloud.server.connection import WsConnection

            def at_once(send: Any) -> Any:
                def send_now(self: WsConnection, data: Any) -> None:
                    send(self, data)
                    self._flush()

                return send_now

            WsConnection.send_text = at_once(WsConnection.send_text)  # type: ignore[method-assign]
            WsConnection.send_binary = at_once(WsConnection.send_binary)  # type: ignore[method-assign]
        elif name == "batch":  # no flush at the end of a read: every frame at the end of the pass
            from glasscloud.server import inbound

            inbound._parsed_frames = lambda ws: (0,)  # type: ignore[assignment]  # never empty
        elif name == "no-limits":  # no token buckets or size check on inbound frames
            from glasscloud.server.inbound import InboundGuard

            InboundGuard.admit = lambda self, size, now: True  # type: ignore[method-assign]
        elif name == "no-liveness":  # no pings (the liveness monitor's slices)
            overrides["ping_interval"] = 0.0
        elif name == "no-stalls":  # no stall monitor (its 2 ms timer)
            overrides["no_stalls"] = True
        elif name == "rearm-watchdog":  # the first watchdog: faulthandler re-armed each 50 ms
            overrides["rearm_watchdog"] = True
        elif name == "gc-time":  # time spent in each GC generation (bench/session_open.py)
            overrides["gc_time"] = True
        elif name.startswith("gc-threshold="):  # e.g. gc-threshold=10000:10:10
            overrides["gc_threshold"] = tuple(int(x) for x in name.split("=")[1].split(":"))
        elif name.startswith("webhook-concurrency="):  # e.g. webhook-concurrency=256
            overrides["webhook_concurrency"] = int(name.split("=")[1])
        elif name == "no-gc":  # the collector off: what the collector costs, at most
            overrides["no_gc"] = True
        elif name == "gc-garbage":  # keep cyclic garbage (gc.DEBUG_SAVEALL); the dump counts it
            overrides["gc_garbage"] = True
        elif name == "cprofile":  # cProfile the event loop's thread until SIGTERM
            overrides["cprofile"] = True
        elif name == "count-store":  # count Store operations (bench/session_open.py)
            overrides["count_store"] = True
        elif name == "webhook-queue-timeout":  # the webhook timeout not counting pool waits
            import aiohttp

            from glasscloud.server import effects

            class Timeout:  # what effects._post builds: waiting for a connection is free
                def __new__(cls, total=None, **kw):  # type: ignore[no-untyped-def]
                    return aiohttp.ClientTimeout(total=None, sock_connect=total, sock_read=total)

            effects.aiohttp = type(  # type: ignore[attr-defined]
                "PatchedAiohttp",
                (),
                {
                    "ClientTimeout": Timeout,
                    "ClientSession": aiohttp.ClientSession,
                    "TCPConnector": aiohttp.TCPConnector,
                    "ClientError": aiohttp.ClientError,
                },
            )
        elif name == "log-cluster-errors":  # why a cluster node refused a session
            import logging

            from glasscloud.cluster.node import ClusterNode
            from glasscloud.server.sessions import ClusterUnavailable

            original = ClusterNode.open_session

            async def logged(self, user_id, for_app=None, original=original):  # type: ignore[no-untyped-def]
                try:
                    return await original(self, user_id, for_app)
                except ClusterUnavailable as exc:
                    logging.getLogger("bench").warning("refused %s: %s", user_id, exc)
                    raise

            ClusterNode.open_session = logged  # type: ignore[method-assign]
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
        log_level=os.environ.get("GCBENCH_LOG_LEVEL", "WARNING"),
        app_send_queue=args.app_queue,
        timings=timings,
        public_url=args.public_url or None,
        max_pending_per_address=args.max_pending,
        drain_delay=args.drain_delay,
        **(  # only when asked: a main-ref target's ServerConfig may not know it
            {"webhook_concurrency": overrides["webhook_concurrency"]}
            if "webhook_concurrency" in overrides
            else {}
        ),
        **(UNLIMITED if args.no_rate_limit else {}),
        **(
            {"redis": args.redis, "node_id": args.node_id or None, "lease_seconds": args.lease}
            if args.redis
            else {}
        ),
    )
    store_ops = count_store_operations() if overrides.get("count_store") else None
    gc_time = time_gc() if overrides.get("gc_time") else None
    server = await start_server(config)
    freeze_startup_objects()  # as `glasscloud serve` does
    if overrides.get("no_gc"):
        gc.disable()
    if "gc_threshold" in overrides:
        gc.set_threshold(*overrides["gc_threshold"])  # type: ignore[misc]
    if overrides.get("gc_garbage"):
        gc.set_debug(gc.DEBUG_SAVEALL)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    dump_writers = watch_writers(server, args.metrics_out + ".writers.jsonl")
    stalls = StallMonitor(
        args.metrics_out + ".stacks.txt", lambda ms: dump_writers(f"after a {ms:.0f} ms stall")
    )
    if not overrides.get("no_stalls"):
        stalls.start()
    if overrides.get("rearm_watchdog"):

        async def rearm() -> None:
            import faulthandler

            with open(args.metrics_out + ".rearm.txt", "w") as out:
                while True:
                    faulthandler.dump_traceback_later(0.5, repeat=True, file=out)
                    await asyncio.sleep(0.05)

        background = [loop.create_task(rearm())]
    else:
        background = []

    def dump() -> None:
        dump_writers("SIGUSR1")
        stalls.dump(args.metrics_out + ".stalls.json")
        items = [{"name": n, "labels": lb, "value": v} for n, lb, v in server.metrics.items()]
        for gen, seconds in (gc_time or {}).items():
            items.append({"name": "gc_seconds", "labels": {"generation": gen}, "value": seconds})
        for op, count in (store_ops or {}).items():
            items.append({"name": "store_operations", "labels": {"op": op}, "value": count})
        if gc_time is not None:  # what the collector walks (not counting the frozen)
            tracked = len(gc.get_objects())
            items.append({"name": "gc_tracked_objects", "labels": {}, "value": tracked})
        if overrides.get("gc_garbage"):  # what only the collector could free, by type
            import collections

            gc.collect()
            kinds = collections.Counter(type(o).__qualname__ for o in gc.garbage)
            for kind, count in kinds.most_common(40):
                items.append({"name": "gc_garbage", "labels": {"type": kind}, "value": count})
            def kind_of(obj: object) -> str:
                if asyncio.iscoroutine(obj) and hasattr(obj, "__qualname__"):
                    return "coroutine:" + obj.__qualname__
                return type(obj).__qualname__

            alive = collections.Counter(kind_of(o) for o in gc.get_objects())
            for kind, count in alive.most_common(40):
                items.append({"name": "gc_alive", "labels": {"type": kind}, "value": count})
        with open(args.metrics_out, "w") as out:
            json.dump(items, out)

    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGUSR1, dump)

    def dump_tasks() -> None:  # where every task waits (a hung path's diagnosis)
        import collections
        import io

        counts: collections.Counter[str] = collections.Counter()
        for task in asyncio.all_tasks(loop):
            out = io.StringIO()
            coro: object = task.get_coro()
            for _ in range(30):  # the await chain, outermost first
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is None:
                    out.write(f"  <{type(coro).__name__}>\n")
                    break
                code = frame.f_code
                out.write(f"  {code.co_filename}:{frame.f_lineno} {code.co_name}\n")
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                if coro is None:
                    break
            counts[out.getvalue()] += 1
        with open(args.metrics_out + ".tasks.txt", "w") as out:
            for stack, n in counts.most_common():
                out.write(f"=== {n} tasks\n{stack}\n")

    loop.add_signal_handler(signal.SIGUSR2, dump_tasks)
    profiler = None
    if overrides.get("cprofile"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    print("READY", flush=True)
    await stopping.wait()
    for task in background:
        task.cancel()
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
    # cluster mode (bench/cluster.py): as `glasscloud serve --redis --node-id --lease-seconds`
    parser.add_argument("--redis", default="", help="cluster mode: the Redis URL")
    parser.add_argument("--node-id", default="")
    parser.add_argument("--lease", type=float, default=10.0, help="--lease-seconds")
    parser.add_argument("--public-url", default="")
    parser.add_argument("--drain-delay", type=float, default=0.0)
    parser.add_argument(
        "--max-pending",
        type=int,
        default=64,
        help="--max-pending-per-address (0: no cap, as behind a load balancer)",
    )
    args = parser.parse_args()
    pin(args.cpu)
    raise_nofile()
    setup_logging(os.environ.get("GCBENCH_LOG_LEVEL", "WARNING"))
    uvloop.run(_main(args))


if __name__ == "__main__":
    main()
