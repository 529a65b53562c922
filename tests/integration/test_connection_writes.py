"""WsConnection over a real socket: frames written straight to the transport and frames that
went through the queue (once the peer fell behind) arrive intact and in order; a peer that
stops reading costs a bounded queue with the oldest frames dropped and counted."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import WsConnection
from tests.support.loopback import serve_on_loopback

SIZES = [0, 1, 125, 126, 127, 16384, 16385, 65535, 65536, 70000]


async def _serve(script):
    """A one-route server whose handler runs `script(conn)` on the accepted socket."""
    done: asyncio.Future[WsConnection] = asyncio.get_running_loop().create_future()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, autoping=False)
        await ws.prepare(request)
        conn = WsConnection(ws, 50, Metrics(), "app", request)
        await script(conn)
        done.set_result(conn)
        async for _ in ws:
            pass
        conn.finish()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, port = await serve_on_loopback(app)
    return runner, f"http://127.0.0.1:{port}/ws", done


async def test_every_frame_length_arrives_intact_in_order(http):
    async def script(conn: WsConnection) -> None:
        for i, size in enumerate(SIZES):
            conn.send_binary(bytes([i % 251]) * size)
            conn.send_text(f"{i}:" + "é" * size)

    runner, url, done = await _serve(script)
    try:
        ws = await http.ws_connect(url, max_msg_size=0)
        got = [await ws.receive(timeout=5) for _ in range(2 * len(SIZES))]
        for i, size in enumerate(SIZES):
            binary, text = got[2 * i], got[2 * i + 1]
            assert binary.type is aiohttp.WSMsgType.BINARY
            assert binary.data == bytes([i % 251]) * size
            assert text.type is aiohttp.WSMsgType.TEXT
            assert text.data == f"{i}:" + "é" * size
        conn = await done
        assert conn.stats.messages_out == 2 * len(SIZES)
        await ws.close()
    finally:
        await runner.cleanup()


async def test_a_peer_that_stops_reading_gets_a_bounded_queue_then_the_rest_in_order(http):
    frame = 64 * 1024
    total = 600  # ~39 MB: more than the kernel's socket buffers hold

    async def script(conn: WsConnection) -> None:
        for seq in range(total):
            conn.send_binary(seq.to_bytes(4, "big") + bytes(frame - 4))
            if seq % 50 == 0:
                await asyncio.sleep(0)  # let the transport push what the kernel takes
        assert conn.queued <= 50

    runner, url, done = await _serve(script)
    try:
        ws = await http.ws_connect(url, max_msg_size=0)
        # The client reads nothing until the server has sent everything.
        conn = await asyncio.wait_for(done, 30)
        seqs = []
        while True:
            msg = await ws.receive(timeout=5)
            seqs.append(int.from_bytes(msg.data[:4], "big"))
            if seqs[-1] == total - 1:
                break
        assert seqs == sorted(set(seqs)), "frames reordered or duplicated"
        assert conn.stats.dropped > 0, "the kernel buffers absorbed everything; send more"
        assert len(seqs) + conn.stats.dropped == total
        assert seqs[0] == 0  # the first frames went out at once, before any backlog
        await ws.close()
    finally:
        await runner.cleanup()
