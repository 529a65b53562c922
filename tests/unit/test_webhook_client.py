"""The webhook client (server/webhook_client.py) against real servers on 127.0.0.1: aiohttp
servers, and raw asyncio servers that answer exactly the bytes a test needs."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from glasscloud.server.webhook_client import (
    MAX_ANSWER_BYTES,
    Target,
    WebhookClient,
    WebhookError,
)
from tests.support.loopback import serve_on_loopback

BODY = b'{"type":"session_request","userId":"a@example.com"}'


class RawServer:
    """Answers each request with `answer(request_number_on_this_connection)`: bytes to send,
    or None to close the connection without answering; with `close_after`, each answer is
    followed by closing the connection. Counts connections and requests."""

    def __init__(self, answer: Callable[[int], bytes | None], close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                number += 1
                answer = self.answer(number)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@pytest.fixture
async def client() -> AsyncIterator[WebhookClient]:
    client = WebhookClient()
    yield client
    await client.close()


async def test_a_post_sends_the_json_body_and_reuses_the_connection(client):
    async with RawServer(lambda n: OK) as server:
        assert await client.post_json(server.url, BODY) == 200
        assert await client.post_json(server.url, BODY) == 200
    assert server.connections == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /webhook HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"Content-Type: application/json" in lines
    assert f"Content-Length: {len(BODY)}".encode() in lines
    assert body == BODY


async def test_chunked_answers_are_read_to_their_end_and_the_connection_kept(client):
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n4\r\n:1}\n\r\n0\r\n\r\n'
    )
    async with RawServer(lambda n: chunked) as server:
        assert await client.post_json(server.url, BODY) == 201
        assert await client.post_json(server.url, BODY) == 201
    assert server.connections == 1


async def test_an_interim_100_continue_is_skipped_for_the_answer_after_it(client):
    answer = b"HTTP/1.1 100 Continue\r\n\r\n" + OK
    async with RawServer(lambda n: answer) as server:
        assert await client.post_json(server.url, BODY) == 200
        assert await client.post_json(server.url, BODY) == 200
    assert server.connections == 1


async def test_connection_close_and_close_delimited_answers_are_not_reused(client):
    closing = b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\nboom"
    async with RawServer(lambda n: closing, close_after=True) as server:
        assert await client.post_json(server.url, BODY) == 500
        assert await client.post_json(server.url, BODY) == 500
    assert server.connections == 2
    old = b"HTTP/1.0 200 OK\r\n\r\n{}"
    async with RawServer(lambda n: old, close_after=True) as server:
        assert await client.post_json(server.url, BODY) == 200
        assert await client.post_json(server.url, BODY) == 200
    assert server.connections == 2
    await asyncio.sleep(0)
    assert client.open_connections == 0


async def test_a_reused_connection_the_server_dropped_is_sent_once_more_on_a_new_one(client):
    # Each connection answers its first request only: a keep-alive that ran out server-side
    # just as the next webhook was sent.
    async with RawServer(lambda n: OK if n == 1 else None) as server:
        assert await client.post_json(server.url, BODY) == 200
        assert await client.post_json(server.url, BODY) == 200
    assert server.connections == 2
    assert len(server.requests) == 3


async def test_a_new_connection_closed_before_an_answer_is_an_error_not_a_retry(client):
    async with RawServer(lambda n: None) as server:
        with pytest.raises(WebhookError, match="closed the connection before answering"):
            await client.post_json(server.url, BODY)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SMTP ready\r\n\r\n", "not valid HTTP/1.1"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_ANSWER_BYTES * 2)
            + b"x" * (MAX_ANSWER_BYTES * 2),
            "larger than",
        ),
    ],
)
async def test_hostile_answers_are_errors_and_their_connection_is_closed(client, answer, message):
    async with RawServer(lambda n: answer) as server:
        with pytest.raises(WebhookError, match=message):
            await client.post_json(server.url, BODY)
        await asyncio.sleep(0.05)
        assert client.open_connections == 0
    async with RawServer(lambda n: OK) as server:  # the client goes on
        assert await client.post_json(server.url, BODY) == 200


async def test_redirects_are_answers_not_followed(client):
    moved = (
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: http://127.0.0.1:1/\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    async with RawServer(lambda n: moved) as server:
        assert await client.post_json(server.url, BODY) == 301
    assert len(server.requests) == 1


async def test_a_refused_connection_names_the_host_and_port(client):
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(WebhookError, match=f"cannot connect to 127.0.0.1:{port}"):
        await client.post_json(f"http://127.0.0.1:{port}/webhook", BODY)


async def test_a_timed_out_request_leaves_no_connection_to_reuse(client):
    stalled = asyncio.Event()

    def answer(n: int) -> bytes | None:
        stalled.set()
        return b"HTTP/1.1 200 OK\r\n"  # and never the rest

    async with RawServer(answer) as server:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await client.post_json(server.url, BODY)
        assert stalled.is_set()
        server.answer = lambda n: OK
        assert await client.post_json(server.url, BODY) == 200
    assert server.connections == 2


async def test_idle_connections_are_bounded_per_origin():
    client = WebhookClient(max_idle=1)
    try:
        gate = asyncio.Event()

        async def slow(request: web.Request) -> web.Response:
            await gate.wait()
            return web.json_response({"status": "success"})

        app = web.Application()
        app.router.add_post("/webhook", slow)
        runner, port = await serve_on_loopback(app)
        try:
            posts = [
                asyncio.ensure_future(client.post_json(f"http://127.0.0.1:{port}/webhook", BODY))
                for _ in range(3)
            ]
            await asyncio.sleep(0.1)
            assert client.open_connections == 3
            gate.set()
            assert await asyncio.gather(*posts) == [200, 200, 200]
            await asyncio.sleep(0.05)
            assert client.open_connections == 1
        finally:
            await runner.cleanup()
    finally:
        await client.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_checks_the_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def hook(request: web.Request) -> web.Response:
        assert await request.read() == BODY
        return web.json_response({"status": "success"})

    app = web.Application()
    app.router.add_post("/webhook", hook)
    runner, port = await serve_on_loopback(app, server_context)
    url = f"https://127.0.0.1:{port}/webhook"
    try:
        untrusting = WebhookClient()  # the system's CAs: a self-signed certificate is refused
        with pytest.raises(WebhookError, match=r"TLS with 127\.0\.0\.1"):
            await untrusting.post_json(url, BODY)
        await untrusting.close()
        trusting = WebhookClient(ssl_context=ssl.create_default_context(cafile=str(cert)))
        assert await trusting.post_json(url, BODY) == 200
        assert await trusting.post_json(url, BODY) == 200
        assert trusting.open_connections == 1
        await trusting.close()
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("url", "host", "port", "path", "header"),
    [
        ("http://apps.example.com/hooks/", "apps.example.com", 80, b"/hooks/", b"apps.example.com"),
        ("https://apps.example.com", "apps.example.com", 443, b"/", b"apps.example.com"),
        ("http://127.0.0.1:8080/w?x=1", "127.0.0.1", 8080, b"/w?x=1", b"127.0.0.1:8080"),
        ("http://[::1]:9/webhook", "::1", 9, b"/webhook", b"[::1]:9"),
        (
            "http://bücher.example/webhook",
            "bücher.example",
            80,
            b"/webhook",
            b"xn--bcher-kva.example",
        ),
    ],
)
def test_targets(url, host, port, path, header):
    target = Target.of(url)
    assert (target.host, target.port, target.path, target.host_header) == (
        host,
        port,
        path,
        header,
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://apps.example.com/", "not http or https"),
        ("http:///webhook", "names no host"),
        ("http://apps.example.com:99999/", "invalid port"),
    ],
)
def test_unusable_urls_are_errors_naming_the_url(url, message):
    with pytest.raises(WebhookError, match=message):
        Target.of(url)
