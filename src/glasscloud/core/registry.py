"""All live sessions of this process, by user id. Owned by the server object (no module
globals), so a second node can later own its own set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from glasscloud.core.app_comms import AppComms, Member
from glasscloud.core.context import SessionServices
from glasscloud.core.session import UserSession


class SessionRegistry:
    def __init__(self, services: SessionServices) -> None:
        self.services = services
        self.metrics = services.metrics
        self._sessions: dict[str, UserSession] = {}
        # Users whose session this process ended while Apps of the previous process could
        # still be reconnecting: their Apps were told the session ended, none will resume.
        self._ended_while_resuming: set[str] = set()
        # Told of every session that ended or moved (a cluster releases the user's lease).
        self.on_forget: Callable[[UserSession], None] | None = None
        if services.app_comms is None:
            services.app_comms = AppComms(services.clock, services.metrics, self.app_members)

    def get(self, user_id: str) -> UserSession | None:
        return self._sessions.get(user_id)

    def get_or_create(
        self,
        user_id: str,
        system_settings: dict[str, Any] | None = None,
        resumable: bool | None = None,
    ) -> tuple[UserSession, bool]:
        """The user's session, and whether it was created now (a new session restores the
        Apps the user ran last time; a resumed one leaves them alone). `resumable=False`:
        its Apps will not reconnect by themselves (another node served them)."""
        session = self._sessions.get(user_id)
        if session is not None:
            return session, False
        if not self.services.resume_time_left():
            self._ended_while_resuming.clear()
        if resumable is None:
            resumable = user_id not in self._ended_while_resuming
        session = UserSession(
            user_id,
            self.services,
            system_settings,
            on_disposed=self._forget,
            resumable=resumable,
        )
        self._sessions[user_id] = session
        self.metrics.inc("sessions_created")
        return session, True

    def _forget(self, session: UserSession) -> None:
        if self._sessions.get(session.user_id) is session:
            del self._sessions[session.user_id]
            if self.on_forget is not None:
                self.on_forget(session)
        if self.services.resume_time_left():
            self._ended_while_resuming.add(session.user_id)

    def app_members(self, package_name: str) -> list[Member]:
        """Users whose session runs `package_name` with a live socket now: the only ones
        other users of that App can reach (core/app_comms.py, rule 2)."""
        members = []
        for session in self._sessions.values():
            slot = session.apps.get(package_name)
            if slot is not None and slot.live and not session.disposed:
                members.append(Member(session.user_id, slot.app_session_id, slot.conn))  # type: ignore[arg-type]
        return members

    def save_resume_states(self) -> None:
        """Persist what every session shows now (at shutdown, before the sockets close)."""
        for session in list(self._sessions.values()):
            session.save_resume_state()

    def __iter__(self) -> Iterator[UserSession]:
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
