"""One App inside one user session: its lifecycle state and what belongs to its socket."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from glasscloud.core.clock import TimerHandle
from glasscloud.core.ports import Connection, StartResult
from glasscloud.core.records import AppRecord
from glasscloud.protocol.app import data_stream_prefix


class AppState(StrEnum):
    RESUMING = "resuming"  # after a restart: waiting for the App's own reconnect, no webhook
    LOADING = "loading"  # start webhook sent, waiting for the App to authenticate
    RUNNING = "running"  # authenticated socket
    GRACE = "grace_period"  # socket lost unexpectedly; the SDK reconnects on its own
    STOPPING = "stopping"  # stop webhook sent; the socket closes after it


# What the glasses are told (`app_state_change.state`).
PUBLIC_STATE = {
    AppState.RESUMING: "loading",
    AppState.LOADING: "loading",
    AppState.RUNNING: "running",
    AppState.GRACE: "running",
    AppState.STOPPING: "stopped",
}


@dataclass(eq=False)
class AppSlot:
    """Mutable per-App state. A new slot is made for every start, so callbacks that hold an
    old slot can tell they are stale (`session.apps.get(pkg) is not slot`)."""

    record: AppRecord
    app_session_id: str
    state: AppState = AppState.LOADING
    conn: Connection | None = None
    waiters: list[Callable[[StartResult], None]] = field(default_factory=list)
    start_timer: TimerHandle | None = None
    grace_timer: TimerHandle | None = None
    retry_timer: TimerHandle | None = None
    webhook_attempts: int = 0
    restarts: int = 0
    running_since: float | None = None
    launched_at: float = 0.0  # clock time of the start (for the App start-time histogram)
    released: str | None = None
    # A user's start shows a boot screen; a restart or a resume does not (it would cover the
    # captions of the App the user is reading).
    boot_screen: bool = True
    # Ran for the user and was not stopped: comes back after a restart.
    persisted: bool = False
    # Became running while no glasses were attached: they hear of it when they come back.
    unannounced: bool = False
    _prefixes: dict[str, str] = field(default_factory=dict)

    @property
    def package_name(self) -> str:
        return self.record.package_name

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.record.permissions)

    @property
    def live(self) -> bool:
        """Connected and running: the only state in which the App is sent anything."""
        return self.conn is not None and self.state is AppState.RUNNING

    @property
    def active(self) -> bool:
        """Running, or its socket briefly lost (the glasses still list it as running)."""
        return self.state in (AppState.RUNNING, AppState.GRACE)

    def prefix(self, stream_type: str) -> str:
        """The cached head of a data_stream frame for this App and stream string."""
        cached = self._prefixes.get(stream_type)
        if cached is None:
            cached = data_stream_prefix(self.app_session_id, stream_type)
            self._prefixes[stream_type] = cached
        return cached

    def cancel_timers(self) -> None:
        for name in ("start_timer", "grace_timer", "retry_timer"):
            timer = getattr(self, name)
            if timer is not None:
                timer.cancel()
                setattr(self, name, None)

    def resolve(self, result: StartResult) -> None:
        waiters, self.waiters = self.waiters, []
        for waiter in waiters:
            waiter(result)
