"""Connections before authentication over real sockets: a header timeout, an idle
keep-alive timeout, a per-address cap, and a descriptor budget under a lowered
RLIMIT_NOFILE, so slow clients never lock anyone out of /health or the glasses socket.

Slow clients connect from other loopback addresses (127.0.0.0/8 is all loopback), as an
attacker elsewhere on the network would; the legitimate clients use 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import sys

import aiohttp

from glasscloud.auth.app_tokens import issue_developer_token
from glasscloud.auth.tokens import issue_core_token
from glasscloud.server.run import start_server, stop_server
from tests.support.clients import FrameInbox, connect_glasses
from tests.support.servers import http_base, make_config, token_for, ws_base

USER = "patient@example.com"
PARTIAL_HEAD = b"GET /health HTTP/1.1\r\nHost: glasscloud\r\n"


async def slow_client(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that sends part of a request head and then stalls."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(PARTIAL_HEAD)
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, timeout: float) -> bytes | None:
    """What the server sent before closing (b"" for a bare close), or None if still open."""
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except TimeoutError:
        return None
    except ConnectionError:
        return b""


async def test_partial_headers_get_408_after_the_header_timeout(tmp_path, http):
    server = await start_server(make_config(tmp_path, header_timeout=0.4))
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        reader, writer = await slow_client(server.port, "127.0.0.2")
        answer = await closed_by_server(reader, 3.0)
        assert answer is not None and answer.startswith(b"HTTP/1.1 408")
        assert 0.3 < loop.time() - started < 2.0
        writer.close()
        assert server.metrics.get("connections_refused", reason="header_timeout") == 1
        async with http.get(http_base(server) + "/health") as response:  # not affected
            assert response.status == 200
    finally:
        await stop_server(server)


async def test_idle_keep_alive_connections_are_closed(tmp_path):
    server = await start_server(make_config(tmp_path, keepalive_timeout=0.3))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /health HTTP/1.1\r\nHost: glasscloud\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert head.startswith(b"HTTP/1.1 200")
        rest = await closed_by_server(reader, 3.0)  # the body, then the idle close
        assert rest is not None
        writer.close()
    finally:
        await stop_server(server)


async def test_per_address_cap_on_unauthenticated_connections(tmp_path, http):
    server = await start_server(
        make_config(tmp_path, header_timeout=5.0, max_pending_per_address=3)
    )
    try:
        held = [await slow_client(server.port, "127.0.0.3") for _ in range(3)]
        reader, writer = await slow_client(server.port, "127.0.0.3")  # the fourth
        assert await closed_by_server(reader, 2.0) == b""
        writer.close()
        assert server.metrics.get("connections_refused", reason="per_address") == 1
        for held_reader, _ in held:  # the first three are still waiting
            assert await closed_by_server(held_reader, 0.05) is None
        async with http.get(http_base(server) + "/health") as response:  # other address
            assert response.status == 200
        glasses = await connect_glasses(http, ws_base(server), token_for(server, USER))
        await glasses.wait_for("connection_ack")
        await glasses.close()
        for _, held_writer in held:
            held_writer.close()
    finally:
        await stop_server(server)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


FD_LIMIT = 256
SLOW_CLIENTS = 300  # more than the server may hold


def _lower_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


async def test_slow_clients_past_the_descriptor_limit_lock_nobody_out(tmp_path):
    """`glasscloud serve` with RLIMIT_NOFILE 256 and 300 stalled connections (from many
    addresses, under the per-address cap): /health and a glasses connect still work, the
    server never hits EMFILE, and every stalled connection is closed by the timeout."""
    port = _free_port()
    secret = "admission-test-secret-0123456789abcdef"
    env = {
        **os.environ,
        "GLASSCLOUD_SECRET": secret,
        "GLASSCLOUD_HEADER_TIMEOUT": "2",
        "GLASSCLOUD_FD_RESERVE": "32",
        "GLASSCLOUD_MAX_PENDING_PER_ADDRESS": "20",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "glasscloud",
        "serve",
        "--port",
        str(port),
        "--database",
        f"sqlite:///{tmp_path / 'serve.db'}",
        "--asr-provider",
        "phone",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_lower_fd_limit,
    )
    slow: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/health") as r:
                        if r.status == 200:
                            break
                await asyncio.sleep(0.1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            for index in range(SLOW_CLIENTS):
                source = f"127.0.1.{10 + index // 15}"  # 15 per address, under the cap
                slow.append(await slow_client(port, source))
            async with http.get(f"http://127.0.0.1:{port}/health") as response:
                assert response.status == 200
            ws = await http.ws_connect(
                f"ws://127.0.0.1:{port}/glasses-ws",
                headers={"Authorization": "Bearer " + issue_core_token(secret, USER)},
            )
            glasses = FrameInbox(ws, "glasses")
            await glasses.wait_for("connection_ack")
            outcomes = await asyncio.gather(*(closed_by_server(r, 6.0) for r, _ in slow))
            assert all(o is not None for o in outcomes), "a stalled connection stayed open"
            assert loop.time() - started < 8.0
            timed_out = sum(1 for o in outcomes if o and o.startswith(b"HTTP/1.1 408"))
            assert timed_out > 0  # the ones within the budget waited for the timeout
            await glasses.send({"type": "request_settings"})
            await glasses.wait_for("settings_update")  # the glasses socket is unharmed
            await glasses.close()
            dev = {"Authorization": "Bearer " + issue_developer_token(secret, "ops@example.com")}
            async with http.get(f"http://127.0.0.1:{port}/metrics", headers=dev) as response:
                metrics = await response.text()
            assert 'connections_refused_total{reason="descriptor_budget"}' in metrics
            assert 'connections_refused_total{reason="header_timeout"}' in metrics
    finally:
        for _, writer in slow:
            writer.close()
        if process.returncode is None:
            process.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert "Too many open files" not in stderr and "Traceback" not in stderr
    assert '"connection budget: ' in stderr
