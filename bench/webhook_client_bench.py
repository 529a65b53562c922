"""CPU per webhook POST: aiohttp's ClientSession against glasscloud's webhook client
(server/webhook_client.py), on the same keep-alive connections to one App server.

The App server (aiohttp, answers `{"status":"success"}`) runs in a child process pinned to
core 1; the client runs here on core 0 with uvloop, 64 POSTs in flight, a `session_request`
body. Prints the client's CPU µs per POST (process time over the measured POSTs) and POSTs/s,
for each client, `--rounds` times interleaved.

    .venv/bin/python -m bench.webhook_client_bench [--posts 6000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

from bench.stats import median
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.jsonio import encode_bytes
from glasscloud.server.webhook_client import WebhookClient

IN_FLIGHT = 64
WARMUP = 200
BODY = encode_bytes(
    app_wire.session_request(
        "u@bench.example-com.bench.app",
        "u@bench.example",
        "ws://127.0.0.1:1/app-ws",
        "2026-12-02T00:00:00.000Z",
    )
)


def _app_server(ports: Any) -> None:
    os.sched_setaffinity(0, {1})

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "success"})

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/webhook", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        ports.put(runner.addresses[0][1])
        await asyncio.Event().wait()

    uvloop.run(serve())


async def _measure(post: Callable[[], Awaitable[int]], posts: int) -> tuple[float, float]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with gate:
            assert await post() == 200

    await asyncio.gather(*(one() for _ in range(WARMUP)))
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one() for _ in range(posts)))
    return 1e6 * (time.process_time() - cpu) / posts, posts / (time.perf_counter() - wall)


async def _aiohttp(url: str, posts: int) -> tuple[float, float]:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, limit_per_host=0))
    timeout = aiohttp.ClientTimeout(total=5)
    headers = {"Content-Type": "application/json"}

    async def post() -> int:
        async with session.post(url, data=BODY, headers=headers, timeout=timeout) as response:
            await response.read()
            return response.status

    try:
        return await _measure(post, posts)
    finally:
        await session.close()


async def _glasscloud(url: str, posts: int) -> tuple[float, float]:
    client = WebhookClient()

    async def post() -> int:
        async with asyncio.timeout(5):
            return await client.post_json(url, BODY)

    try:
        return await _measure(post, posts)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_app_server, args=(ports,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}/webhook"
    os.sched_setaffinity(0, {0})
    results: dict[str, list[tuple[float, float]]] = {"aiohttp": [], "glasscloud": []}
    try:
        for _ in range(args.rounds):
            results["aiohttp"].append(uvloop.run(_aiohttp(url, args.posts)))
            results["glasscloud"].append(uvloop.run(_glasscloud(url, args.posts)))
    finally:
        server.kill()
    for name, rows in results.items():
        cpu = median([r[0] for r in rows])
        rate = median([r[1] for r in rows])
        rounds = ", ".join(f"{r[0]:.1f}" for r in rows)
        print(f"{name:>10}: {cpu:6.1f} µs CPU per POST ({rounds})  {rate:,.0f} POSTs/s")


if __name__ == "__main__":
    main()
