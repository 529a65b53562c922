"""When a socket's frames reach its transport (`server/connection.py`): what the handling of
one read sends is written when the reader says the read is handled (`end_of_read`), each
socket's frames in one `writelines`; what is sent outside any read is written at the end of
the loop pass; control frames go at once, also while the socket is behind, and count as
pings only once written. The transport is a recording stand-in (no sockets)."""

from __future__ import annotations

import asyncio

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import WsConnection


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffered = 0  # what the kernel has not taken (the peer is behind when > 0)
        self.closing = False

    def writelines(self, pieces) -> None:
        self.writes.append(b"".join(pieces))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True


class _Writer:
    def __init__(self) -> None:
        self.drained = asyncio.Event()

    async def drain(self) -> None:
        await self.drained.wait()


class _Ws:
    compress = 0
    closed = False


class _Request:
    def __init__(self) -> None:
        self.transport = Transport()
        self.writer = _Writer()


def socket() -> tuple[WsConnection, Transport]:
    request = _Request()
    conn = WsConnection(_Ws(), 8, Metrics(), "app", request)  # type: ignore[arg-type]
    return conn, request.transport


async def test_a_reads_frames_go_out_when_the_read_is_handled_one_write_per_socket():
    (a, ta), (b, tb) = socket(), socket()
    a.send_binary(b"1")
    b.send_binary(b"x")
    a.send_binary(b"2")
    assert ta.writes == [] and tb.writes == []  # still handling the read
    a.end_of_read()  # any socket's reader: the batch is shared
    assert ta.writes == [b"\x82\x011\x82\x012"] and tb.writes == [b"\x82\x01x"]
    await asyncio.sleep(0)  # the end of the pass finds nothing more
    assert len(ta.writes) == 1 and len(tb.writes) == 1
    for conn in (a, b):
        conn.finish()


async def test_frames_sent_outside_a_read_go_at_the_end_of_the_loop_pass():
    conn, transport = socket()
    conn.send_text("tick")
    conn.send_text("tock")
    assert transport.writes == []
    await asyncio.sleep(0)
    assert transport.writes == [b"\x81\x04tick\x81\x04tock"]
    conn.finish()


async def test_pings_go_at_once_even_behind_and_count_only_when_written():
    conn, transport = socket()
    transport.buffered = 1  # the peer is behind: the writer task takes over
    conn.send_text("first")
    conn.end_of_read()
    await asyncio.sleep(0)
    assert transport.writes == [b"\x81\x05first"]  # written, now waiting for drain()
    conn.send_text("held")
    conn.end_of_read()
    await asyncio.sleep(0)
    assert len(transport.writes) == 1  # waits in the buffer while the writer drains
    conn.ping(5.0)
    assert transport.writes[-1].startswith(b"\x89")  # the ping at once, ahead of "held"
    assert conn.stats.pings == 1 and list(conn.stats.ping_times) == [5.0]
    conn.pong(b"p")
    assert transport.writes[-1] == b"\x8a\x01p"
    transport.closing = True
    conn.ping(6.0)  # cannot be written: not counted
    assert conn.stats.pings == 1 and list(conn.stats.ping_times) == [5.0]
    conn.finish()
