"""What a restart gives back to each App: its last main view and dashboard item (from the
display manager) and its subscriptions (from the router), persisted through
`SessionEffects.save_resume_state` and handed to `AppLifecycle.restore` by the next process.

Writes are coalesced: a change arms one timer (`Timings.display_save_delay`), so an App that
draws every frame costs one write a second, not one per frame; the shell also saves every
session at shutdown, before the sockets close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glasscloud.core.clock import TimerHandle
from glasscloud.core.context import SessionContext
from glasscloud.core.persisted import LastSaved


class ResumeStateWriter:
    def __init__(
        self,
        ctx: SessionContext,
        display_state: Callable[[], dict[str, dict[str, Any]]],
        subscriptions: Callable[[], dict[str, list[str]]],
    ) -> None:
        self._ctx = ctx
        self._display_state = display_state
        self._subscriptions = subscriptions
        self._timer: TimerHandle | None = None
        self._saved = LastSaved()  # an unchanged state is not written again
        self.closed = False

    def remember(self, state: dict[str, Any]) -> None:
        """The store holds `state` (a restored session read it from there)."""
        self._saved.remember(state)

    def changed(self) -> None:
        """What an App shows or subscribes to changed: write it soon."""
        if self._timer is None and not self.closed:
            self._timer = self._ctx.clock.call_later(
                self._ctx.timings.display_save_delay, self.save
            )

    def save(self) -> None:
        """Write what each App shows and subscribes to now."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.closed:
            return
        state = self._display_state()
        for package_name, subscriptions in self._subscriptions().items():
            state.setdefault(package_name, {})["subscriptions"] = subscriptions
        if self._saved.changed(state):
            self._ctx.effects.save_resume_state(self._ctx.user_id, state)

    def close(self) -> None:
        """The session ends: a pending write goes out now, then nothing more."""
        if self._timer is not None:
            self.save()
        self.closed = True
