"""What the glasses show: the interface the session uses. The implementation is
`display_manager.DisplayManager` (the session's default).

The session calls:
- `app_starting(package, name, boot_screen)` when an App start begins (boot screen for a
  user's start only),
- `app_stopped(package)` when an App stops or fails to start,
- `show(package, request)` for a validated `display_event` from a running App,
- `app_message(package, kind, obj)` for `dashboard_*` messages (returns an error or None),
- `saved_state()` / `restore_state(package, saved)` to show an App's last view again after
  a restart (`on_change` in the context says when it changed),
- `head_position(position)` for the glasses' head position,
- `glasses_connected()` after every (re)connection, to re-send what should be visible,
- `dispose()` when the session ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from glasscloud.core.clock import Clock
from glasscloud.core.timings import Timings
from glasscloud.protocol.errors import ProtocolError

DASHBOARD_MESSAGES = frozenset(
    {"dashboard_content_update", "dashboard_mode_change", "dashboard_system_update"}
)


class DisplayContext:
    """What a display manager may use from its session."""

    def __init__(
        self,
        clock: Clock,
        timings: Timings,
        send_to_glasses: Callable[[str], None],
        is_running: Callable[[str], bool],
        timestamp: Callable[[], str],
        app_type: Callable[[str], str | None],
        user_id: str = "",
        send_to_app: Callable[[str, str], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.timings = timings
        self.send_to_glasses = send_to_glasses
        self.is_running = is_running
        self.timestamp = timestamp
        self.app_type = app_type
        self.user_id = user_id
        # send_to_app(package, text): a frame to that App if it is connected, else dropped.
        self.send_to_app = send_to_app or (lambda _package, _text: None)
        # on_change(): what an App shows changed (its content or dashboard item), so the
        # session persists it soon (`saved_state`).
        self.on_change = on_change or (lambda: None)


class Display(Protocol):
    """The interface the session drives (see the module docstring)."""

    def app_starting(self, package_name: str, name: str, boot_screen: bool = True) -> None: ...

    def app_stopped(self, package_name: str) -> None: ...

    def show(self, package_name: str, request: dict[str, Any]) -> None: ...

    def app_message(
        self, package_name: str, kind: str, obj: dict[str, Any]
    ) -> ProtocolError | None: ...

    def saved_state(self) -> dict[str, dict[str, Any]]: ...

    def restore_state(self, package_name: str, saved: dict[str, Any]) -> None: ...

    def head_position(self, position: str) -> None: ...

    def glasses_connected(self) -> None: ...

    def dispose(self) -> None: ...


DisplayFactory = Callable[[DisplayContext], Display]
