"""Dead-peer detection: one task pings every socket every `ping_interval`; a socket that
has sent nothing (no pong, no frame) for `ping_interval * missed_pings` is dropped and then
handled like any other disconnect (the glasses' or the App's grace period takes over).

The sockets are pinged in `SLICES` groups spread over the interval, not all at once: with
thousands of sockets one sweep (and the burst of pongs it brings back) stalled the event
loop for ~80 ms every 10 s, which was the largest part of the relay's p99. Each round
slices a snapshot of the sockets taken at its start; sockets opened since wait for the next.

Sockets in a grace period have no connection any more, so liveness can never cut into a
grace period or a reconnect (the reference's HeartbeatManager fought its reconnect logic)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable

from glasscloud.core.metrics import Metrics
from glasscloud.server.connection import WsConnection

log = logging.getLogger("glasscloud.liveness")

SLICES = 50


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
            for group in self.slices():
                await asyncio.sleep(self._interval / SLICES)
                self.sweep(loop.time(), group)

    def slices(self) -> list[list[WsConnection]]:
        """One round: the open sockets now, dealt into `SLICES` groups."""
        snapshot = list(self._connections())
        return [snapshot[part::SLICES] for part in range(SLICES)]

    def sweep(self, now: float, conns: Iterable[WsConnection]) -> None:
        """Drop the silent sockets among `conns` and ping the others."""
        for conn in conns:
            if conn.closed:
                continue
            silent = now - conn.stats.last_rx
            if silent > self._timeout:
                self._metrics.inc("liveness_kills", side=conn.stats.side)
                log.info(
                    "no pong or traffic; dropping connection",
                    extra={
                        "side": conn.stats.side,
                        "userId": conn.stats.user_id or "",
                        "packageName": conn.stats.package_name or "",
                        "silentSeconds": round(silent, 1),
                    },
                )
                conn.kill(f"no pong or traffic for {silent:.0f} s")
            else:
                conn.ping(now)
