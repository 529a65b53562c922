"""Webhooks to App servers, queued per App server (docs/decisions.md, "Start webhooks queue
per App server").

A reconnect storm owes one App server thousands of `session_request`s at once. Sent all
together they would wait in the HTTP client's pool, whose timeout counts that wait: they
failed as timeouts before they were even sent, were retried, and queued again (bench.cluster
storm: ~8,000 timeouts against ~1,000-1,500 successes). Here instead:

- each App server (the scheme, host and port of an App's public URL: Apps served by one
  process share it) has a FIFO lane of start webhooks with at most `concurrency` in flight;
  the rest wait in order, and a webhook's own timeout counts from when it is sent;
- a lane holds at most `max_waiting` webhooks; one more fails at once, retryable, saying
  that the App server is saturated;
- just before a webhook leaves, `on_send` is asked whether it is still wanted (the start it
  belongs to may have ended while it waited: the user left, the session moved); a webhook
  nobody wants any more is dropped unsent and reports nothing;
- stop webhooks have a lane of their own per App server, so a stop never waits behind a
  storm of starts (the HTTP client has no per-host limit of its own for the same reason).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from glasscloud.core.ports import WebhookOutcome

Send = Callable[[], Awaitable[WebhookOutcome]]
Spawn = Callable[[Awaitable[None]], object]


@dataclass(slots=True)
class _Job:
    send: Send
    on_outcome: Callable[[WebhookOutcome], None]
    on_send: Callable[[], bool] | None


@dataclass(slots=True)
class _Lane:
    waiting: collections.deque[_Job] = field(default_factory=collections.deque)
    in_flight: int = 0


def server_of(url: str) -> str:
    """The App server a webhook URL belongs to: `scheme://host:port`."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class WebhookQueue:
    """FIFO lanes of webhooks, one per (App server, kind); at most `concurrency` of a lane in
    flight. `spawn` runs a coroutine as a background task (the shell's `TaskSet`)."""

    def __init__(
        self,
        spawn: Spawn,
        concurrency: int,
        max_waiting: int,
        on_saturated: Callable[[str], None],
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._spawn = spawn
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self._on_saturated = on_saturated
        self._lanes: dict[tuple[str, str], _Lane] = {}

    def submit(
        self,
        server: str,
        kind: str,
        send: Send,
        on_outcome: Callable[[WebhookOutcome], None],
        on_send: Callable[[], bool] | None = None,
    ) -> None:
        """Send now if the lane has room, else wait in order. `on_outcome` runs once, unless
        `on_send` answered False (withdrawn)."""
        key = (server, kind)
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        job = _Job(send, on_outcome, on_send)
        if lane.in_flight < self.concurrency and not lane.waiting:
            self._start(key, lane, job)
            return
        if len(lane.waiting) >= self.max_waiting:
            self._on_saturated(kind)
            on_outcome(
                WebhookOutcome(
                    False,
                    None,
                    f"the App server {server} is saturated: {lane.in_flight} webhooks in "
                    f"flight and {len(lane.waiting)} waiting",
                    retryable=True,
                )
            )
            return
        lane.waiting.append(job)

    def depth(self, server: str, kind: str) -> tuple[int, int]:
        """(in flight, waiting) of one lane."""
        lane = self._lanes.get((server, kind))
        return (lane.in_flight, len(lane.waiting)) if lane else (0, 0)

    def _start(self, key: tuple[str, str], lane: _Lane, job: _Job) -> None:
        if job.on_send is not None and not job.on_send():
            self._next(key, lane)  # withdrawn while it waited: never sent
            return
        lane.in_flight += 1
        self._spawn(self._run(key, lane, job))

    async def _run(self, key: tuple[str, str], lane: _Lane, job: _Job) -> None:
        try:
            outcome = await job.send()
        except asyncio.CancelledError:  # shutting down: start nothing more
            lane.in_flight -= 1
            raise
        except Exception as exc:  # a bug in send must not wedge the lane
            outcome = WebhookOutcome(False, None, f"webhook failed ({exc!r})", retryable=True)
        lane.in_flight -= 1
        self._next(key, lane)
        job.on_outcome(outcome)

    def _next(self, key: tuple[str, str], lane: _Lane) -> None:
        while lane.waiting and lane.in_flight < self.concurrency:
            job = lane.waiting.popleft()
            if job.on_send is not None and not job.on_send():
                continue
            lane.in_flight += 1
            self._spawn(self._run(key, lane, job))
        if not lane.waiting and not lane.in_flight:
            self._lanes.pop(key, None)
