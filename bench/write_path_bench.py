"""The audio hot path without sockets, for instruction counts (callgrind) and syscall counts:
a glasses audio frame in -> `UserSession.handle_glasses_audio` -> the router's relay ->
each subscribed App's real `WsConnection.send_binary` -> its outbound buffer -> the end of
the loop pass -> `transport.writelines`. The transport is a stand-in that only counts
(`writes` = the writes the real one would make, i.e. syscalls).

A "pass" is `--clump` frames from the glasses handled in one loop pass, then the pass ends
(the connections' `call_soon` flushes run). `--gap` is the loop time between passes (the
socket's burst rule reads it): 0.0 = saturation (passes back to back), 0.1 = light load.

    .venv/bin/python -m bench.write_path_bench --clump 4               # ns/delivery, writes
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python -m bench.write_path_bench --clump 4 --passes 2000 --once

On uvloop, as the server runs. Runs against any git ref's glasscloud
(`PYTHONPATH=<export>/src:.`): it uses only `WsConnection(ws, max_queue, metrics, side,
request)` and the core's public API. A clump is one read of the glasses socket: a version
that writes at the end of each read gets `end_of_read()` after it, as the reader calls it.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvloop

from bench.core_bench import CountingConnection, StartAtOnce, add_app
from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.metrics import Metrics
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.server.connection import WsConnection


class CountingTransport:
    """What `WsConnection` uses of an asyncio transport; the kernel always keeps up."""

    def __init__(self) -> None:
        self.writes = 0
        self.bytes = 0

    def writelines(self, pieces: list[bytes]) -> None:
        self.writes += 1
        for piece in pieces:
            self.bytes += len(piece)

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.bytes += len(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


class _Writer:
    async def drain(self) -> None:
        pass


class _Ws:
    compress = 0
    closed = False


class _Request:
    def __init__(self) -> None:
        self.transport = CountingTransport()
        self.writer = _Writer()


class Clock:
    """Loop time the harness sets, so the burst rule sees the gap it is told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def time(self) -> float:
        return self.now


def build(k: int) -> tuple[UserSession, list[WsConnection], list[CountingTransport]]:
    clock = ManualClock()
    session = UserSession("bench@example.com", SessionServices(clock, StartAtOnce(), Timings()))
    session.attach_glasses(CountingConnection())
    metrics = Metrics()
    conns, transports = [], []
    for i in range(k):
        request = _Request()
        conn = WsConnection(_Ws(), 1024, metrics, "app", request)  # type: ignore[arg-type]
        add_app(session, i, conn)
        conns.append(conn)
        transports.append(request.transport)
    clock.advance(10)
    return session, conns, transports


BUTTON = '{"type":"button_press","buttonId":"main","pressType":"short"}'


async def run(
    k: int, clump: int, passes: int, gap: float, rounds: int, kind: str = "audio"
) -> dict[str, Any]:
    session, conns, transports = build(k)
    await asyncio.sleep(0)
    clock = Clock()
    for conn in conns:  # the burst rule's clock (a no-op for versions without one)
        conn._loop = _LoopTime(conn._loop, clock)  # type: ignore[attr-defined]
    audio = bytes(3200)
    if kind == "audio":
        relay = session.handle_glasses_audio
    else:  # a button_press text frame, decoded as the glasses reader does
        from glasscloud.protocol.glasses import decode_glasses_message

        def relay(_: bytes) -> None:
            session.handle_glasses_message(decode_glasses_message(BUTTON))

    sleep = asyncio.sleep
    end_of_read = getattr(conns[0], "end_of_read", None)
    perf = time.perf_counter
    best = float("inf")
    w0 = sum(t.writes for t in transports)
    m0 = sum(c.stats.messages_out for c in conns)
    for _ in range(rounds):
        start = perf()
        for _ in range(passes):
            clock.now += gap
            for _ in range(clump):
                relay(audio)
            if end_of_read is not None:
                end_of_read()
            await sleep(0)  # the end of the pass: the connections' flushes run
        best = min(best, perf() - start)
    deliveries = passes * clump * k
    writes = sum(t.writes for t in transports) - w0
    delivered = sum(c.stats.messages_out for c in conns) - m0
    assert delivered == deliveries * rounds, (delivered, deliveries * rounds)
    return {
        "clump": clump,
        "gap_s": gap,
        "ns_per_delivery": best / deliveries * 1e9,
        "writes_per_delivery": writes / (deliveries * rounds),
    }


class _LoopTime:
    """The running loop with `time()` from the harness's clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, clock: Clock) -> None:
        self._loop = loop
        self.time = clock.time
        self.call_soon = loop.call_soon

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--k", type=int, default=2, help="Apps per glasses")
    parser.add_argument("--clump", type=int, default=0, help="frames per pass (0: 1, 2, 4, 16)")
    parser.add_argument("--gap", type=float, default=-1.0, help="s between passes (-1: 0, 0.1)")
    parser.add_argument("--passes", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--once", action="store_true", help="one round, for callgrind")
    parser.add_argument("--kind", choices=["audio", "event"], default="audio")
    args = parser.parse_args()
    clumps = [args.clump] if args.clump else [1, 2, 4, 16]
    gaps = [args.gap] if args.gap >= 0 else [0.0, 0.1]
    rounds = 1 if args.once else args.rounds
    for gap in gaps:
        for clump in clumps:
            passes = max(1, args.passes // clump)
            res = uvloop.run(run(args.k, clump, passes, gap, rounds, args.kind))
            print(
                f"{args.kind} gap {gap:4.2f} s  clump {clump:2d}: "
                f"{res['ns_per_delivery']:7.0f} ns/delivery  "
                f"{res['writes_per_delivery']:.3f} writes/delivery",
                flush=True,
            )


if __name__ == "__main__":
    main()
