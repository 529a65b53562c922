"""The minimal relay: what a glasses->App relay cannot do without, and nothing else. For each
glasses text frame it parses the `type`, looks up the user's Apps subscribed to it, wraps the
message in a `data_stream` (as glasscloud does: `streamType`, `data`, `timestamp`) and sends
it; audio (binary) goes as-is to the Apps subscribed to `audio_chunk`. No auth, no sessions,
no queues, no limits, no liveness: aiohttp + uvloop, `send_str`/`send_bytes` awaited in the
receive loop. It is the floor for glasscloud's light-load latency (`bench.run light`).

    /glasses/{g}  a user's glasses
    /app/{g}      one of the user's Apps; its `subscription_update` picks the streams, its
                  `display_event` goes back to the glasses as-is

    .venv/bin/python -m bench.minimal_relay --port 8302

SIGUSR1 writes its event-loop stalls and GC pauses to `--stalls-out` (bench/stalls.py).
"""

from __future__ import annotations

import time
from collections import defaultdict

import msgspec
from aiohttp import WSMsgType, web

from bench.relay_host import run_relay


class _Typed(msgspec.Struct):
    type: str = ""


class _Subscription(msgspec.Struct):
    type: str = ""
    subscriptions: list[str] = []


_type_of = msgspec.json.Decoder(_Typed).decode
_subscription = msgspec.json.Decoder(_Subscription).decode

# user -> stream -> App sockets; user -> glasses sockets
_subs: dict[str, dict[str, list[web.WebSocketResponse]]] = defaultdict(lambda: defaultdict(list))
_glasses: dict[str, list[web.WebSocketResponse]] = defaultdict(list)


def _timestamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


async def glasses(request: web.Request) -> web.WebSocketResponse:
    user = request.match_info["g"]
    ws = web.WebSocketResponse(compress=False, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    _glasses[user].append(ws)
    streams = _subs[user]
    prefix = f'{{"type":"data_stream","sessionId":"{user}-app","streamType":"'
    try:
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                for app in streams.get("audio_chunk", ()):
                    await app.send_bytes(msg.data)
            elif msg.type is WSMsgType.TEXT:
                kind = _type_of(msg.data).type
                apps = streams.get(kind)
                if apps:
                    wrapped = f'{prefix}{kind}","data":{msg.data},"timestamp":"{_timestamp()}"}}'
                    for app in apps:
                        await app.send_str(wrapped)
    except (ConnectionError, msgspec.DecodeError):
        pass
    finally:
        _glasses[user].remove(ws)
    return ws


async def app(request: web.Request) -> web.WebSocketResponse:
    user = request.match_info["g"]
    ws = web.WebSocketResponse(compress=False, max_msg_size=4 * 1024 * 1024)
    await ws.prepare(request)
    streams = _subs[user]
    mine: list[str] = []
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            kind = _type_of(msg.data).type
            if kind == "subscription_update":
                for stream in mine:
                    streams[stream].remove(ws)
                mine = list(dict.fromkeys(_subscription(msg.data).subscriptions))
                for stream in mine:
                    streams[stream].append(ws)
            elif kind == "display_event":
                for peer in _glasses[user]:
                    await peer.send_str(msg.data)
    except (ConnectionError, msgspec.DecodeError):
        pass
    finally:
        for stream in mine:
            streams[stream].remove(ws)
    return ws


def main() -> None:
    run_relay(
        __doc__ or "",
        {"/glasses/{g}": glasses, "/app/{g}": app},
        "/tmp/glasscloud-bench-minimal.stalls.json",
    )


if __name__ == "__main__":
    main()
