"""The glasscloud server as the benchmarks run it: the real `start_server` in one process on
uvloop, pinned to a core, logging at WARNING (per-session INFO lines would dominate the
10,000-session setup; GCBENCH_LOG_LEVEL=INFO for a diagnosis). SIGUSR1 writes the server's
counters (drops, deliveries) as JSON to `--metrics-out`, and its event-loop stalls and GC
pauses to `<metrics-out>.stalls.json` (bench/stalls.py); SIGUSR2 writes where every asyncio
task waits to `<metrics-out>.tasks.txt`. SIGTERM stops it gracefully (in cluster mode,
`--redis`, that is the node's drain: leases released at once, glasses closed with 1012).

    .venv/bin/python -m bench.serve --port 8300 --database sqlite:////tmp/b.db --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal

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
        elif name == "blocking-pool":  # the proposed fix: Redis callers queue for a connection
            import redis.asyncio as aioredis

            from glasscloud.cluster import node as cluster_node

            def from_url(url, **kw):  # type: ignore[no-untyped-def]
                pool = aioredis.BlockingConnectionPool.from_url(
                    url, max_connections=64, timeout=kw.get("socket_timeout", 2.0), **kw
                )
                return aioredis.Redis(connection_pool=pool)

            cluster_node.aioredis = type(  # type: ignore[attr-defined]
                "PatchedRedisModule", (), {"from_url": staticmethod(from_url)}
            )
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
        **(UNLIMITED if args.no_rate_limit else {}),
        **(
            {"redis": args.redis, "node_id": args.node_id or None, "lease_seconds": args.lease}
            if args.redis
            else {}
        ),
    )
    server = await start_server(config)
    freeze_startup_objects()  # as `glasscloud serve` does
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    stalls = StallMonitor()
    if not overrides.get("no_stalls"):
        stalls.start()

    def dump() -> None:
        stalls.dump(args.metrics_out + ".stalls.json")
        items = [{"name": n, "labels": lb, "value": v} for n, lb, v in server.metrics.items()]
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
    print("READY", flush=True)
    await stopping.wait()
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
