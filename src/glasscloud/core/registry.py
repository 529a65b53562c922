"""All live sessions of this process, by user id. Owned by the server object (no module
globals), so a second node can later own its own set."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from glasscloud.core.clock import Clock
from glasscloud.core.display import DisplayFactory
from glasscloud.core.metrics import Metrics
from glasscloud.core.ports import SessionEffects
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.core.transcription import TranscriptionFactory


class SessionRegistry:
    def __init__(
        self,
        clock: Clock,
        effects: SessionEffects,
        timings: Timings,
        metrics: Metrics | None = None,
        display_factory: DisplayFactory | None = None,
        transcription_factory: TranscriptionFactory | None = None,
    ) -> None:
        self.clock = clock
        self.effects = effects
        self.timings = timings
        self.metrics = metrics or Metrics()
        self.display_factory = display_factory
        self.transcription_factory = transcription_factory
        self._sessions: dict[str, UserSession] = {}

    def get(self, user_id: str) -> UserSession | None:
        return self._sessions.get(user_id)

    def get_or_create(
        self, user_id: str, system_settings: dict[str, Any] | None = None
    ) -> tuple[UserSession, bool]:
        """The user's session, and whether it was created now (a new session restarts the
        Apps the user ran last time; a resumed one leaves them alone)."""
        session = self._sessions.get(user_id)
        if session is not None:
            return session, False
        session = UserSession(
            user_id,
            self.clock,
            self.effects,
            self.timings,
            self.metrics,
            system_settings,
            on_disposed=self._forget,
            display_factory=self.display_factory,
            transcription_factory=self.transcription_factory,
        )
        self._sessions[user_id] = session
        self.metrics.inc("sessions_created")
        return session, True

    def _forget(self, session: UserSession) -> None:
        if self._sessions.get(session.user_id) is session:
            del self._sessions[session.user_id]

    def __iter__(self) -> Iterator[UserSession]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    def dispose_all(self) -> None:
        for session in list(self._sessions.values()):
            session.dispose()
