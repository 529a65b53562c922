"""Requests an App made of the glasses (a photo, a sound, a position fix...), each waiting
for its answer. The answer goes to the App that asked and to no one else; a request that
gets no answer in time, or whose App stops, or whose glasses go away, ends with a reason the
caller turns into an error the SDK surfaces. Never silence, never a hang.

Request ids come from the App (the SDK makes them): they are bounded in length and number
per App, and an id already waiting is refused, so one App cannot answer for or starve
another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from glasscloud.core.clock import Clock, TimerHandle
from glasscloud.protocol.errors import ErrorCode, ProtocolError

MAX_REQUEST_ID = 128
MAX_PENDING_PER_APP = 16


@dataclass(eq=False)
class Pending:
    """One request waiting for its answer. `data` is what the caller needs to answer it
    (e.g. the upload URL of a photo); `on_end(pending, reason)` runs if it ends without
    one, with reason "timeout", "app_stopped" or what `drop_all` was given."""

    request_id: str
    package_name: str
    kind: str
    on_end: Callable[[Pending, str], None]
    data: dict[str, Any] = field(default_factory=dict)
    timer: TimerHandle | None = field(default=None, repr=False)


Ended = Callable[[Pending, str], None]


class PendingRequests:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._by_id: dict[str, Pending] = {}

    def add(
        self,
        request_id: object,
        package_name: str,
        kind: str,
        timeout: float,
        on_end: Ended,
        data: dict[str, Any] | None = None,
    ) -> Pending:
        """Wait for the answer to `request_id`; `on_end(pending, reason)` runs if none comes
        within `timeout` s (or the request is dropped). Raises ProtocolError naming
        `requestId` for an id that is not a short string, already waiting, or over the
        App's limit."""
        if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"`requestId` must be a string of 1 to {MAX_REQUEST_ID} characters.",
                "requestId",
            )
        if request_id in self._by_id:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"A request with id {request_id!r} is already waiting for its answer.",
                "requestId",
            )
        if sum(1 for p in self._by_id.values() if p.package_name == package_name) >= (
            MAX_PENDING_PER_APP
        ):
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"{package_name} already has {MAX_PENDING_PER_APP} requests waiting for the "
                "glasses; wait for their answers.",
                "requestId",
            )
        pending = Pending(request_id, package_name, kind, on_end, dict(data or {}))
        self._by_id[request_id] = pending

        def expired() -> None:
            pending.timer = None
            if self._by_id.get(request_id) is pending:
                del self._by_id[request_id]
                on_end(pending, "timeout")

        pending.timer = self._clock.call_later(timeout, expired)
        return pending

    def resolve(self, request_id: object, kinds: frozenset[str] | None = None) -> Pending | None:
        """The answer to `request_id` arrived: the request, no longer waiting (None if no
        such request waits, or it is of another kind)."""
        if not isinstance(request_id, str):
            return None
        pending = self._by_id.get(request_id)
        if pending is None or (kinds is not None and pending.kind not in kinds):
            return None
        self._finish(pending)
        return pending

    def drop_app(self, package_name: str) -> None:
        """The App stopped: its requests end ("app_stopped")."""
        for pending in [p for p in self._by_id.values() if p.package_name == package_name]:
            self._end(pending, "app_stopped")

    def drop_all(self, reason: str) -> None:
        """Every request ends (the glasses went away, or the session ended)."""
        for pending in list(self._by_id.values()):
            self._end(pending, reason)

    def waiting(self, package_name: str | None = None) -> list[Pending]:
        return [
            p
            for p in self._by_id.values()
            if package_name is None or p.package_name == package_name
        ]

    def _finish(self, pending: Pending) -> None:
        del self._by_id[pending.request_id]
        if pending.timer is not None:
            pending.timer.cancel()
            pending.timer = None

    def _end(self, pending: Pending, reason: str) -> None:
        self._finish(pending)
        pending.on_end(pending, reason)
