"""The baseline: a bare aiohttp relay (+ uvloop) with no sessions, no auth, no routing, no
JSON. `/src/{g}` is a "glasses" socket: each frame it sends goes as-is to every `/sink/{g}`;
each text frame a sink sends goes as-is to the sources of g (the display path). Same aiohttp
calls glasscloud makes (`send_str`/`send_bytes`, compression off), no send queues.

    .venv/bin/python -m bench.baseline_relay --port 8301

SIGUSR1 writes its event-loop stalls and GC pauses to `--stalls-out` (bench/stalls.py).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections import defaultdict

import uvloop
from aiohttp import WSMsgType, web

from bench.stalls import StallMonitor
from bench.stats import pin, raise_nofile

_sinks: dict[str, list[web.WebSocketResponse]] = defaultdict(list)
_sources: dict[str, list[web.WebSocketResponse]] = defaultdict(list)


async def _relay(
    request: web.Request,
    mine: dict[str, list[web.WebSocketResponse]],
    peers: dict[str, list[web.WebSocketResponse]],
) -> web.WebSocketResponse:
    group = request.match_info["g"]
    ws = web.WebSocketResponse(compress=False, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    mine[group].append(ws)
    targets = peers[group]
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                for peer in targets:
                    await peer.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                for peer in targets:
                    await peer.send_bytes(msg.data)
    except ConnectionError:
        pass
    finally:
        mine[group].remove(ws)
    return ws


async def source(request: web.Request) -> web.WebSocketResponse:
    return await _relay(request, _sources, _sinks)


async def sink(request: web.Request) -> web.WebSocketResponse:
    return await _relay(request, _sinks, _sources)


async def _main(port: int, stalls_out: str) -> None:
    app = web.Application()
    app.router.add_get("/src/{g}", source)
    app.router.add_get("/sink/{g}", sink)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=0)
    parser.add_argument("--stalls-out", default="/tmp/glasscloud-bench-baseline.stalls.json")
    args = parser.parse_args()
    pin(args.cpu)
    raise_nofile()
    uvloop.run(_main(args.port, args.stalls_out))


if __name__ == "__main__":
    main()
