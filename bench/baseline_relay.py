"""The baseline: a bare aiohttp relay (+ uvloop) with no sessions, no auth, no routing, no
JSON. `/src/{g}` is a "glasses" socket: each frame it sends goes as-is to every `/sink/{g}`;
each text frame a sink sends goes as-is to the sources of g (the display path). Same aiohttp
calls glasscloud makes (`send_str`/`send_bytes`, compression off), no send queues.

    .venv/bin/python -m bench.baseline_relay --port 8301

SIGUSR1 writes its event-loop stalls and GC pauses to `--stalls-out` (bench/stalls.py).
"""

from __future__ import annotations

from collections import defaultdict

from aiohttp import WSMsgType, web

from bench.relay_host import run_relay

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


def main() -> None:
    run_relay(
        __doc__ or "",
        {"/src/{g}": source, "/sink/{g}": sink},
        "/tmp/glasscloud-bench-baseline.stalls.json",
    )


if __name__ == "__main__":
    main()
