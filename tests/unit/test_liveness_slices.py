"""The liveness monitor spreads its pings: each tick handles one slice of the sockets, and
one full round of ticks pings every live socket exactly once and drops the silent ones."""

from __future__ import annotations

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import ConnectionStats
from glasscloud.server.liveness import SLICES, LivenessMonitor


class FakeConn:
    def __init__(self, slot: int, last_rx: float) -> None:
        self.liveness_slot = slot
        self.stats = ConnectionStats("app")
        self.stats.last_rx = last_rx
        self.closed = False
        self.pings: list[float] = []
        self.killed: str | None = None

    def ping(self, now: float) -> None:
        self.pings.append(now)

    def kill(self, reason: str) -> None:
        self.killed = reason
        self.closed = True


def test_one_round_of_slices_pings_each_socket_once_and_drops_the_silent():
    conns = [FakeConn(slot, last_rx=100.0) for slot in range(37)]
    silent = [FakeConn(slot, last_rx=0.0) for slot in range(37, 40)]
    metrics = Metrics()
    monitor = LivenessMonitor(lambda: conns + silent, 10.0, 3, metrics)
    per_tick = []
    for tick in range(SLICES):
        before = sum(len(c.pings) for c in conns)
        monitor.sweep(105.0 + tick, tick, SLICES)
        per_tick.append(sum(len(c.pings) for c in conns) - before)
    assert [len(c.pings) for c in conns] == [1] * len(conns)
    assert max(per_tick) <= -(-len(conns) // SLICES)  # no tick pings more than its share
    assert all(c.killed and c.killed.startswith("no pong or traffic") for c in silent)
    assert metrics.get("liveness_kills", side="app") == 3


def test_a_sweep_without_slices_handles_everyone():
    conns = [FakeConn(slot, last_rx=100.0) for slot in range(5)]
    LivenessMonitor(lambda: conns, 10.0, 3, Metrics()).sweep(101.0)
    assert [len(c.pings) for c in conns] == [1] * 5
