"""Dead-peer detection: one task pings every socket every `ping_interval`; a socket is
dropped (then handled like any other disconnect: the glasses' or the App's grace period
takes over) when it is dead by `is_dead`: it has sent nothing (no pong, no frame) for
`ping_interval * missed_pings` **and** at least `missed_pings` pings were written to it
since. A peer is judged by what it sends back to pings that went out, never by our own
schedule: under overload a round of pings runs late (the event loop is behind), and a
quiet App that only listens, opened after a round began, had waited over 30 s for its first
ping and was dropped without ever being asked (the 1,000-session mix, docs/performance.md).

The sockets are pinged in `SLICES` groups spread over the interval, not all at once: with
thousands of sockets one sweep (and the burst of pongs it brings back) stalled the event
loop for ~80 ms every 10 s, which was the largest part of the relay's p99. Each round
slices a snapshot of the sockets taken at its start; sockets opened since wait for the next.
The slices are due at fixed times from the round's start, so a late loop does not stretch a
round (when it is late, the slices that are due are swept at once).

Sockets in a grace period have no connection any more, so liveness can never cut into a
grace period or a reconnect (the reference's HeartbeatManager fought its reconnect logic)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import WsConnection

log = logging.getLogger("glasscloud.liveness")

SLICES = 50


def is_dead(
    now: float, last_rx: float, ping_times: Sequence[float], timeout: float, missed: int
) -> bool:
    """Silent for over `timeout` although the last `missed` pings written to it (`ping_times`,
    oldest first) all went out after the last frame it sent (`last_rx`)."""
    if now - last_rx <= timeout or len(ping_times) < missed:
        return False
    return ping_times[-missed] > last_rx


def slice_delay(round_start: float, index: int, interval: float, now: float) -> float:
    """How long until slice `index` of a round that began at `round_start` is due."""
    return max(0.0, round_start + (index + 1) * interval / SLICES - now)


class LivenessMonitor:
    def __init__(
        self,
        connections: Callable[[], Iterable[WsConnection]],
        interval: float,
        missed_pings: int,
        metrics: Metrics,
    ) -> None:
        self._connections = connections
        self._interval = interval
        self._timeout = interval * missed_pings
        self._missed = missed_pings
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            for index, group in enumerate(self.slices()):
                await asyncio.sleep(slice_delay(start, index, self._interval, loop.time()))
                self.sweep(loop.time(), group)

    def slices(self) -> list[list[WsConnection]]:
        """One round: the open sockets now, dealt into `SLICES` groups."""
        snapshot = list(self._connections())
        return [snapshot[part::SLICES] for part in range(SLICES)]

    def sweep(self, now: float, conns: Iterable[WsConnection]) -> None:
        """Drop the dead sockets among `conns` (`is_dead`) and ping the others."""
        timeout, missed = self._timeout, self._missed
        for conn in conns:
            if conn.closed:
                continue
            stats = conn.stats
            silent = now - stats.last_rx
            if silent > timeout and is_dead(now, stats.last_rx, stats.ping_times, timeout, missed):
                self._metrics.inc("liveness_kills", side=conn.stats.side)
                log.info(
                    "no pong or traffic; dropping connection",
                    extra={
                        "side": conn.stats.side,
                        "userId": conn.stats.user_id or "",
                        "packageName": conn.stats.package_name or "",
                        "silentSeconds": round(silent, 1),
                        "unansweredPings": missed,
                    },
                )
                conn.kill(f"no pong or traffic for {silent:.0f} s ({missed} pings unanswered)")
            else:
                conn.ping(now)
