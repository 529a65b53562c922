"""`session.dashboard`: the App's item on the user's dashboard (`dashboard_content_update`)
and the dashboard's mode (`main` or `expanded`) as the cloud reports it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from glasscloud.sdk import frames
from glasscloud.sdk.registry import Emit, Registration

MODES = ("main", "expanded")


class Dashboard:
    def __init__(
        self,
        package_name: str,
        session_id: str,
        send: Callable[[str], None],
        timestamp: Callable[[], str],
        emit: Emit,
    ) -> None:
        self._package_name = package_name
        self._session_id = session_id
        self._send = send
        self._timestamp = timestamp
        self._emit = emit
        self._handlers: list[Registration] = []
        self.mode = "main"

    def write(self, content: str, modes: Sequence[str] = ("main",)) -> None:
        """Put `content` on the dashboard in the given modes."""
        bad = [m for m in modes if m not in MODES]
        if bad or not modes:
            raise ValueError(f"modes must be a non-empty list of {MODES}, not {list(modes)}")
        self._send(
            frames.dashboard_content_update(
                self._package_name, self._session_id, content, modes, self._timestamp()
            )
        )

    def on_mode_change(self, handler: Callable[[str], Any]) -> Registration:
        """`handler(mode)` when the cloud reports `dashboard_mode_changed`."""
        registration = Registration("dashboard_mode", handler, self._handlers.remove)
        self._handlers.append(registration)
        return registration

    def apply_mode(self, mode: Any) -> None:
        if mode in MODES and mode != self.mode:
            self.mode = mode
            for registration in list(self._handlers):
                self._emit(registration, mode)
