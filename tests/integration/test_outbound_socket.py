"""The outbound buffer's rules over a real socket: everything sent before `close()` arrives
before the close frame (when the peer keeps up and when it is behind), a peer's ping is
answered through the buffer, and a socket that negotiated permessage-deflate is refused."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import WsConnection
from glasscloud.server.inbound import InboundGuard, UserLimits, read_frames
from tests.conftest import make_config
from tests.support.loopback import serve_on_loopback


async def _serve(script, compress: bool = False):
    done: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compress, autoping=False)
        await ws.prepare(request)
        try:
            conn = WsConnection(ws, 50, Metrics(), "app", request)
        except RuntimeError as error:
            done.set_result(error)
            await ws.close()
            return ws
        await script(conn, ws)
        done.set_result(conn)
        async for _ in ws:
            pass
        conn.finish()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner, port = await serve_on_loopback(app)
    return runner, f"http://127.0.0.1:{port}/ws", done


@pytest.mark.parametrize("behind", [False, True])
async def test_frames_sent_before_close_arrive_before_the_close_frame(http, behind):
    frame = 64 * 1024 if behind else 100
    total = 200 if behind else 20

    async def script(conn: WsConnection, ws: web.WebSocketResponse) -> None:
        for seq in range(total):
            conn.send_binary(seq.to_bytes(4, "big") + bytes(frame - 4))
        conn.close(4000, "done")
        conn.send_text("after close")  # refused

    runner, url, done = await _serve(script)
    try:
        ws = await http.ws_connect(url, max_msg_size=0)
        if behind:
            await asyncio.sleep(0.3)  # let the server's buffers fill first
        seqs = []
        while True:
            msg = await ws.receive(timeout=5)
            if msg.type is not aiohttp.WSMsgType.BINARY:
                break
            seqs.append(int.from_bytes(msg.data[:4], "big"))
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4000
        conn = await done
        assert isinstance(conn, WsConnection)
        assert seqs == sorted(set(seqs)) and seqs[-1] == total - 1
        assert len(seqs) + conn.stats.dropped == total
        assert conn.stats.dropped > 0 if behind else conn.stats.dropped == 0
    finally:
        await runner.cleanup()


async def test_a_peer_ping_is_answered_through_the_buffer(http, tmp_path):
    config = make_config(tmp_path)

    async def script(conn: WsConnection, ws: web.WebSocketResponse) -> None:
        guard = InboundGuard(config, UserLimits(config), Metrics(), "app", lambda e: None, 0.0)
        async for _ in read_frames(ws, conn, guard):
            pass

    runner, url, _done = await _serve(script)
    try:
        ws = await http.ws_connect(url, autoping=False)
        await ws.ping(b"hello")
        msg = await ws.receive(timeout=5)
        assert msg.type is aiohttp.WSMsgType.PONG and msg.data == b"hello"
        await ws.close()
    finally:
        await runner.cleanup()


async def test_a_socket_that_negotiated_compression_is_refused(http):
    async def script(conn: WsConnection, ws: web.WebSocketResponse) -> None:
        raise AssertionError("never reached")

    runner, url, done = await _serve(script, compress=True)
    try:
        ws = await http.ws_connect(url, compress=15)
        error = await asyncio.wait_for(done, 5)
        assert isinstance(error, RuntimeError) and "permessage-deflate" in str(error)
        await ws.close()
    finally:
        await runner.cleanup()
