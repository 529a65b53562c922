"""Running a comparison relay as a benchmark server process: routes on 127.0.0.1, a stall
monitor dumped on SIGUSR1, READY on stdout, a clean stop on SIGTERM. Shared by the bare
relay (`baseline_relay`) and the minimal relay (`minimal_relay`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable

import uvloop
from aiohttp import web

from bench.stalls import StallMonitor
from bench.stats import pin, raise_nofile

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _serve(routes: dict[str, Handler], port: int, stalls_out: str) -> None:
    web_app = web.Application()
    for path, handler in routes.items():
        web_app.router.add_get(path, handler)
    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096, reuse_address=True).start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    stalls = StallMonitor()
    stalls.start()
    loop.add_signal_handler(signal.SIGUSR1, lambda: stalls.dump(stalls_out))
    print("READY", flush=True)
    await stopping.wait()
    await runner.cleanup()


def run_relay(description: str, routes: dict[str, Handler], default_stalls_out: str) -> None:
    """The command line of a relay process: --port, --cpu, --stalls-out."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--stalls-out", default=default_stalls_out)
    args = parser.parse_args()
    pin(args.cpu)
    raise_nofile()
    uvloop.run(_serve(routes, args.port, args.stalls_out))
