"""The dashboard view of the glasses (what they show when the user looks up): who may draw
it, and its last frame, replayed after a reconnect. What it shows is `core.dashboard`."""

from __future__ import annotations

from typing import Any

from glasscloud.core.dashboard import Dashboard
from glasscloud.core.display import DisplayContext
from glasscloud.protocol import app as app_wire
from glasscloud.protocol import glasses as glasses_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError


class DashboardView:
    def __init__(self, ctx: DisplayContext, dashboard_package: str) -> None:
        self.ctx = ctx
        self.dashboard_package = dashboard_package
        self.dashboard = Dashboard(self._send_layout)
        self._frame: str | None = None  # last dashboard-view frame, for replay

    def app_message(
        self, package_name: str, kind: str, obj: dict[str, Any], packages: list[str]
    ) -> ProtocolError | None:
        """`dashboard_*` messages (validated by protocol.app); `packages` are the session's
        Apps, told when the mode changes."""
        if kind == "dashboard_content_update":
            self.dashboard.write(package_name, obj["content"], obj.get("modes") or ["main"])
            return None
        if package_name != self.dashboard_package:
            return ProtocolError(
                ErrorCode.PERMISSION_DENIED,
                f"Only the system dashboard App ({self.dashboard_package}) may send '{kind}'; "
                "other Apps write their dashboard item with dashboard_content_update.",
                "type",
            )
        if kind == "dashboard_system_update":
            self.dashboard.set_section(obj["section"], obj["content"])
        elif kind == "dashboard_mode_change":
            mode = obj["mode"]
            self.dashboard.set_mode(mode)
            ts = self.ctx.timestamp()
            for package in packages:
                session_id = app_wire.app_session_id(self.ctx.user_id, package)
                self.ctx.send_to_app(package, app_wire.dashboard_mode_changed(mode, session_id, ts))
        return None

    def show(self, package_name: str, layout: dict[str, Any]) -> str:
        """The system dashboard App draws the dashboard view itself (sent at once); any
        other App's dashboard-view display becomes its dashboard item, so it cannot
        overwrite the user's dashboard."""
        if package_name == self.dashboard_package:
            self._send_frame(package_name, layout)
            self.dashboard.last_layout = None  # the next render must go out again
            return "displayed"
        self.dashboard.write(package_name, layout, ["main"])
        return "dashboard"

    @property
    def last_frame(self) -> str | None:
        """The last dashboard-view frame sent (the console's mirror starts from it)."""
        return self._frame

    def replay(self) -> None:
        if self._frame is not None:
            self.ctx.send_to_glasses(self._frame)

    def _send_layout(self, layout: dict[str, Any]) -> None:
        self._send_frame(self.dashboard_package, layout)

    def _send_frame(self, package_name: str, layout: dict[str, Any]) -> None:
        frame = glasses_wire.display_event(
            package_name, "dashboard", layout, None, self.ctx.timestamp()
        )
        self._frame = frame
        self.ctx.send_to_glasses(frame)
