"""Liveness judges a peer by what it sends back to pings that went out, on a driven clock:
a socket is dropped only when it has been silent for `interval * missed_pings` and the last
`missed_pings` pings written to it all went out after the last frame it sent. A quiet socket
that was never pinged (a round that ran late, a socket opened after a round began) or whose
pings could not be written is not dead for that; any frame or pong keeps a socket alive."""

from __future__ import annotations

from glasscloud.core.clock import ManualClock
from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import ConnectionStats
from glasscloud.server.liveness import SLICES, LivenessMonitor, is_dead, slice_delay

INTERVAL, MISSED = 10.0, 3
TIMEOUT = INTERVAL * MISSED


class Peer:
    """A socket as liveness sees it; `answers` says whether the peer answers pings, and
    `writable` whether our pings can be written at all (as `WsConnection.ping`)."""

    def __init__(self, clock: ManualClock, answers: bool = True, writable: bool = True) -> None:
        self.clock = clock
        self.stats = ConnectionStats("app")
        self.stats.last_rx = clock.now()
        self.answers = answers
        self.writable = writable
        self.closed = False
        self.killed: str | None = None

    def ping(self, now: float) -> None:
        if not self.writable:
            return
        self.stats.ping_times.append(now)
        if self.answers:
            self.stats.last_rx = now + 0.002  # the pong, 2 ms later

    def kill(self, reason: str) -> None:
        self.killed, self.closed = reason, True


def run_rounds(clock: ManualClock, monitor: LivenessMonitor, seconds: float) -> None:
    """Sweep as `_run` does: each slice at its due time, a fresh snapshot per round."""
    end = clock.now() + seconds
    while clock.now() < end:
        start = clock.now()
        for index, group in enumerate(monitor.slices()):
            clock.advance(slice_delay(start, index, INTERVAL, clock.now()))
            monitor.sweep(clock.now(), group)


def test_the_rule():
    assert not is_dead(100.0, 0.0, [], TIMEOUT, MISSED)  # never pinged: not dead
    assert not is_dead(100.0, 0.0, [70.0, 80.0], TIMEOUT, MISSED)  # two pings only
    assert is_dead(100.0, 0.0, [70.0, 80.0, 90.0], TIMEOUT, MISSED)
    assert not is_dead(100.0, 85.0, [70.0, 80.0, 90.0], TIMEOUT, MISSED)  # answered since
    assert not is_dead(100.0, 75.0, [80.0, 90.0, 99.0], TIMEOUT, MISSED)  # silent < timeout
    assert not is_dead(100.0, 65.0, [60.0, 70.0, 80.0], TIMEOUT, MISSED)  # a frame after 60
    assert is_dead(100.0, 65.0, [60.0, 70.0, 80.0, 90.0], TIMEOUT, MISSED)


def test_a_peer_that_stops_answering_is_dropped_after_its_missed_pings():
    clock = ManualClock()
    metrics = Metrics()
    alive, dead = Peer(clock), Peer(clock, answers=False)
    monitor = LivenessMonitor(
        lambda: [c for c in (alive, dead) if not c.closed], INTERVAL, MISSED, metrics
    )
    run_rounds(clock, monitor, 3 * INTERVAL)
    assert dead.killed is None  # three pings written, the third just now
    run_rounds(clock, monitor, INTERVAL)
    assert dead.killed and dead.killed.startswith("no pong or traffic")
    assert "3 pings unanswered" in dead.killed
    assert alive.killed is None and metrics.get("liveness_kills", side="app") == 1


def test_a_quiet_socket_that_was_never_pinged_is_not_dropped():
    """The 1,000-session mix: an App that only listens was silent for 30 s because the
    round that would have pinged it ran late; it was dropped without ever being asked."""
    clock = ManualClock()
    late = Peer(clock, answers=True)
    clock.advance(45.0)  # silent for 45 s: no ping reached it yet
    monitor = LivenessMonitor(lambda: [late], INTERVAL, MISSED, Metrics())
    monitor.sweep(clock.now(), [late])
    assert late.killed is None and len(late.stats.ping_times) == 1  # asked, not dropped
    run_rounds(clock, monitor, 5 * INTERVAL)
    assert late.killed is None  # it answers


def test_pings_that_could_not_be_written_do_not_count():
    clock = ManualClock()
    stuck = Peer(clock, answers=False, writable=False)
    monitor = LivenessMonitor(lambda: [stuck], INTERVAL, MISSED, Metrics())
    run_rounds(clock, monitor, 10 * INTERVAL)
    assert stuck.killed is None and not stuck.stats.ping_times
    stuck.writable = True  # the transport takes pings again; the peer still says nothing
    run_rounds(clock, monitor, 4 * INTERVAL)
    assert stuck.killed is not None


def test_slices_are_due_on_the_round_clock_so_a_late_loop_does_not_stretch_a_round():
    step = INTERVAL / SLICES
    assert abs(slice_delay(100.0, 0, INTERVAL, 100.0) - step) < 1e-9
    assert abs(slice_delay(100.0, 9, INTERVAL, 100.0) - 10 * step) < 1e-9
    # the loop woke 3 s late: the 15 slices due by then are swept at once, the rest on time
    assert [slice_delay(100.0, i, INTERVAL, 103.0) for i in range(14)] == [0.0] * 14
    assert abs(slice_delay(100.0, 15, INTERVAL, 103.0) - step) < 1e-9
