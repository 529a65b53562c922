"""The liveness monitor spreads its pings: a round deals the open sockets into SLICES
groups, pinging them group by group pings every live socket exactly once and drops the
silent ones (pinged and never answering); no group is much larger than its share."""

from __future__ import annotations

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import ConnectionStats
from glasscloud.server.liveness import SLICES, LivenessMonitor


class FakeConn:
    def __init__(self, last_rx: float) -> None:
        self.stats = ConnectionStats("app")
        self.stats.last_rx = last_rx
        self.closed = False
        self.pings: list[float] = []
        self.killed: str | None = None

    def ping(self, now: float) -> None:  # written at once, as WsConnection.ping does
        self.pings.append(now)
        self.stats.ping_times.append(now)

    def kill(self, reason: str) -> None:
        self.killed = reason
        self.closed = True


def test_one_round_pings_each_socket_once_and_drops_the_silent():
    live = [FakeConn(last_rx=100.0) for _ in range(237)]
    silent = [FakeConn(last_rx=0.0) for _ in range(3)]
    for conn in silent:  # pinged in the three rounds before, never answered
        conn.stats.ping_times.extend([75.0, 85.0, 95.0])
    metrics = Metrics()
    monitor = LivenessMonitor(lambda: live + silent, 10.0, 3, metrics)
    groups = monitor.slices()
    assert len(groups) == SLICES
    assert max(len(g) for g in groups) <= -(-240 // SLICES)
    for tick, group in enumerate(groups):
        monitor.sweep(105.0 + tick * 10.0 / SLICES, group)
    assert [len(c.pings) for c in live] == [1] * len(live)
    assert all(c.killed and c.killed.startswith("no pong or traffic") for c in silent)
    assert metrics.get("liveness_kills", side="app") == 3


def test_closed_sockets_are_skipped():
    conns = [FakeConn(last_rx=100.0) for _ in range(5)]
    conns[2].closed = True
    LivenessMonitor(lambda: conns, 10.0, 3, Metrics()).sweep(101.0, conns)
    assert [len(c.pings) for c in conns] == [1, 1, 0, 1, 1]
