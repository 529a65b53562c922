"""The small interfaces through which the core talks to the I/O shell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from glasscloud.core.records import AppRecord


class Connection(Protocol):
    """One WebSocket as the core sees it. Sends never block: the shell queues them (bounded)
    and reports drops in its own metrics; `close` is queued behind earlier sends."""

    def send_text(self, text: str) -> None: ...

    def send_binary(self, data: bytes) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class WebhookOutcome:
    """The result of one webhook attempt. `retryable` = the App server was not reached or
    answered 5xx; a 4xx is final."""

    ok: bool
    status: int | None = None
    error: str | None = None
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class StartResult:
    success: bool
    package_name: str
    stage: str | None = None  # WEBHOOK | TIMEOUT | AUTHENTICATION | CONNECTION | STOPPED
    message: str | None = None


class SessionEffects(Protocol):
    """What the core asks the shell to do. Each call returns at once; answers come back
    through the callbacks, on the event loop that owns the session."""

    def request_app_start(
        self,
        app: AppRecord,
        user_id: str,
        app_session_id: str,
        on_outcome: Callable[[WebhookOutcome], None],
        on_send: Callable[[], bool] | None = None,
    ) -> None:
        """POST a `session_request` webhook (one attempt). The shell may queue it (per App
        server, in order); `on_send` runs just before it leaves, and its answer says whether
        it is still wanted (False: dropped unsent, no `on_outcome`)."""
        ...

    def request_app_stop(
        self,
        app: AppRecord,
        user_id: str,
        app_session_id: str,
        reason: str,
        on_done: Callable[[], None],
    ) -> None:
        """POST a `stop_request` webhook (one attempt, bounded time); `on_done` always runs."""
        ...

    def save_running_apps(self, user_id: str, packages: list[str]) -> None:
        """Persist which Apps the user runs, so they come back after a restart."""
        ...

    def save_resume_state(self, user_id: str, state: dict[str, Any]) -> None:
        """Persist what each App last showed (main view and dashboard items), so a restart
        shows it again (`DisplayManager.saved_state`)."""
        ...
