"""SIGTERM on a real `glasscloud serve`: /ready answers 503 for the drain delay while the
sockets it holds keep working, then the sockets are told to reconnect (1012) and the
process exits with status 0."""

from __future__ import annotations

import asyncio
import signal
import socket
import time

import aiohttp

from glasscloud.auth.tokens import issue_core_token
from tests.support.clients import connect_glasses
from tests.support.server_process import ServerProcess

SECRET = "drain-test-secret-0123456789abcdef0123"
USER = "drain@example.com"
DRAIN = 1.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_sigterm_drains_then_closes_sockets_and_exits_0(tmp_path):
    server = ServerProcess(
        free_port(),
        f"sqlite:///{tmp_path / 'drain.db'}",
        SECRET,
        extra_args=("--drain-delay", str(DRAIN)),
    )
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{server.http_base}/ready") as r:
                assert r.status == 200
            glasses = await connect_glasses(
                http, server.ws_base, issue_core_token(SECRET, USER), USER
            )
            await glasses.wait_for("connection_ack")

            sent_at = time.monotonic()
            stopping = asyncio.create_task(server.terminate())
            status = 200
            body: dict = {}
            while status == 200 and time.monotonic() - sent_at < 1.0:
                await asyncio.sleep(0.05)
                async with http.get(f"{server.http_base}/ready") as r:
                    status, body = r.status, await r.json()
            assert status == 503
            assert body["failed"] == ["draining"]
            draining_seen = time.monotonic() - sent_at
            assert draining_seen < DRAIN - 0.3
            # while draining, everything else still works: the socket is open, /health 200
            async with http.get(f"{server.http_base}/health") as r:
                assert r.status == 200
            await glasses.send({"type": "button_press", "buttonId": "main", "pressType": "short"})

            assert await glasses.wait_closed(timeout=DRAIN + 5) == 1012
            closed_after = time.monotonic() - sent_at
            assert closed_after >= DRAIN - 0.1, closed_after
            assert await asyncio.wait_for(stopping, 15) == 0
    finally:
        await server.kill()
    assert server.log_messages("draining")


async def test_a_second_sigterm_during_the_drain_stops_at_once(tmp_path):
    server = ServerProcess(
        free_port(),
        f"sqlite:///{tmp_path / 'drain.db'}",
        SECRET,
        extra_args=("--drain-delay", "30"),
    )
    await server.start()
    try:
        stopping = asyncio.create_task(server.terminate(timeout=20))
        try:
            async with asyncio.timeout(5):
                while not server.log_messages("draining"):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(server.tail()) from None
        sent_at = time.monotonic()
        server.signal(signal.SIGTERM)  # the operator insists
        assert await asyncio.wait_for(stopping, 20) == 1
        assert time.monotonic() - sent_at < 3.0
        assert server.log_messages("second stop signal")
    finally:
        await server.kill()
