"""The outbound buffer as a sans-I/O protocol: messages and control frames in, wire bytes
and a close decision out. The bytes are parsed back as RFC 6455 frames, and a model checks
the rules of `outbound.py` over random sequences of operations."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasscloud.server.outbound import OutboundBuffer, Push


def parse(wire: bytes) -> list[tuple[int, bytes]]:
    """Split server frames (final, unmasked, uncompressed) into (opcode, payload)."""
    frames, i = [], 0
    while i < len(wire):
        first, second = wire[i], wire[i + 1]
        assert first & 0xF0 == 0x80, "FIN set, RSV bits (compression) clear"
        assert second & 0x80 == 0, "server frames are not masked"
        length, i = second & 0x7F, i + 2
        if length == 126:
            (length,) = struct.unpack_from("!H", wire, i)
            i += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", wire, i)
            i += 8
        frames.append((first & 0x0F, wire[i : i + length]))
        i += length
    return frames


def drain(buf: OutboundBuffer, max_bytes: int | None = None) -> list[tuple[int, bytes]]:
    return parse(b"".join(buf.data_to_send(max_bytes)))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_frames_carry_every_length(size):
    buf = OutboundBuffer(8)
    buf.send_binary(b"b" * size)
    buf.send_text("é" * size)
    assert drain(buf) == [(0x2, b"b" * size), (0x1, "é".encode() * size)]
    assert buf.messages_out == 2 and buf.bytes_out == size + 2 * size


def test_the_oldest_message_is_dropped_and_counted():
    buf = OutboundBuffer(3)
    results = [buf.send_text(str(n)) for n in range(5)]
    assert results == [Push.QUEUED] * 3 + [Push.DROPPED_OLDEST] * 2
    assert buf.dropped == 2 and buf.queued == 3
    assert drain(buf) == [(0x1, b"2"), (0x1, b"3"), (0x1, b"4")]


def test_control_frames_go_ahead_of_waiting_messages_and_are_never_dropped():
    buf = OutboundBuffer(1)
    buf.send_text("a")
    buf.ping(b"1")
    buf.ping(b"2")  # replaces the waiting ping
    buf.pong(b"p")
    buf.send_text("b")  # drops "a"; the control frames stay
    assert drain(buf) == [(0xA, b"p"), (0x9, b"2"), (0x1, b"b")]


def test_close_is_due_only_after_everything_before_it_and_refuses_the_rest():
    buf = OutboundBuffer(10)
    buf.send_text("before")
    buf.ping(b"t")
    assert buf.close(1008, "bad") is True
    assert buf.close(1000, "again") is False
    assert buf.send_text("after") is Push.REFUSED
    assert buf.ping(b"late") is False and buf.pong(b"late") is False
    assert buf.refused == 1
    assert buf.close_due() is None  # "before" and the ping still wait
    assert drain(buf) == [(0x9, b"t"), (0x1, b"before")]
    assert buf.close_due() == (1008, "bad")
    assert buf.close_due() is None  # once


def test_a_budget_splits_between_messages_but_always_lets_one_through():
    buf = OutboundBuffer(10)
    for n in range(4):
        buf.send_binary(bytes([n]) * 100)
    assert [p[0] for _, p in drain(buf, 250)] == [0, 1]  # 102 + 102 fit, a third does not
    assert [p[0] for _, p in drain(buf, 10)] == [2]  # larger than the budget: still one
    assert [p[0] for _, p in drain(buf, 10)] == [3]
    assert drain(buf, 10) == []


def test_abort_discards_everything_and_nothing_is_due():
    buf = OutboundBuffer(10)
    buf.send_text("x")
    buf.close(1000, "")
    assert buf.abort() == 1
    assert not buf.has_data() and buf.close_due() is None
    assert buf.send_binary(b"y") is Push.REFUSED


def test_a_buffer_holds_at_least_one_message():
    with pytest.raises(ValueError):
        OutboundBuffer(0)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.integers(0, 300)),
        st.tuples(st.just("binary"), st.integers(0, 300)),
        st.tuples(st.just("ping"), st.integers(0, 10)),
        st.tuples(st.just("pong"), st.integers(0, 10)),
        st.tuples(st.just("take"), st.one_of(st.none(), st.integers(0, 1000))),
        st.tuples(st.just("close"), st.integers(1000, 1015)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(1, 6), ops=operations)
def test_model(limit, ops):
    """Against a model: order kept, at most `limit` waiting, what is dropped is the oldest,
    every accepted message is written or counted as dropped, nothing after close, and close
    is due only once everything before it was written."""
    buf = OutboundBuffer(limit)
    waiting: list[bytes] = []  # the model's waiting messages, oldest first
    wire: dict[bytes, int] = {}  # message -> its frame's length on the wire
    written: list[bytes] = []
    dropped: list[bytes] = []
    accepted = 0
    closed = False
    seq = 0
    for op, arg in ops:
        if op in ("text", "binary"):
            seq += 1
            payload = seq.to_bytes(4, "big") + b"z" * arg
            result = (
                buf.send_binary(payload)
                if op == "binary"
                else buf.send_text(payload.decode("latin-1"))
            )
            if closed:
                assert result is Push.REFUSED
                continue
            accepted += 1
            waiting.append(payload)
            size = len(payload) if op == "binary" else len(payload.decode("latin-1").encode())
            wire[payload] = size + (2 if size < 126 else 4 if size < 65536 else 10)
            if len(waiting) > limit:
                dropped.append(waiting.pop(0))
                assert result is Push.DROPPED_OLDEST
            else:
                assert result is Push.QUEUED
        elif op in ("ping", "pong"):
            assert (buf.ping if op == "ping" else buf.pong)(b"c" * arg) is not closed
        elif op == "take":
            expected, budget = 0, arg
            for message in waiting:  # greedy: at least one, then while they fit
                if expected and budget is not None and wire[message] > budget:
                    break
                expected += 1
                if budget is not None:
                    budget -= wire[message]
            before = len(written)
            for opcode, payload in drain(buf, arg):
                if opcode in (0x1, 0x2):
                    if opcode == 0x1:
                        payload = payload.decode().encode("latin-1")
                    assert payload == waiting.pop(0), "order kept, the oldest dropped"
                    written.append(payload)
            assert len(written) - before == expected, "as many as the budget allows"
        else:
            was_open = not closed
            assert buf.close(arg, "r") is was_open
            closed = True
        assert buf.queued == len(waiting) <= limit
        assert buf.dropped == len(dropped)
        assert len(written) + len(dropped) + len(waiting) == accepted
        due = buf.close_due()
        if due is not None:
            assert closed and not waiting and not buf.has_data()
            assert buf.send_text("late") is Push.REFUSED
            break
    assert buf.messages_out == len(written)
