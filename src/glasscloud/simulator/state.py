"""What the simulated glasses know: the layout on each view (main, dashboard), which Apps run,
the microphone state, recent notices and what the connection is doing. Fed with the cloud's
frames; pure (time is passed in), so the rendering of any sequence of frames can be tested
without sockets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glasscloud.simulator.location_rtmp import TYPES as PHONE_COMMANDS
from glasscloud.simulator.location_rtmp import PhoneHardware

VIEWS = ("main", "dashboard")
MAX_NOTICES = 3


@dataclass(frozen=True, slots=True)
class Shown:
    """A layout on a view, who sent it, and when it clears (`durationMs`), if ever."""

    package_name: str
    layout: dict[str, Any]
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A line under the display (an error, an App that stopped). One about an App
    (`package_name`) goes away when that App is running again: it no longer applies."""

    text: str
    package_name: str | None = None


@dataclass
class GlassesState:
    views: dict[str, Shown | None] = field(default_factory=lambda: dict.fromkeys(VIEWS))
    apps: dict[str, str] = field(default_factory=dict)
    microphone: bool = False
    connected: bool = False
    notices: list[Notice] = field(default_factory=list)
    # What the connection is doing when it is not simply up ("reconnecting in 2 s ..."),
    # shown on the status line; None while connected.
    link_status: str | None = None
    phone: PhoneHardware = field(default_factory=PhoneHardware)

    def visible(self, view: str, now: float) -> Shown | None:
        shown = self.views.get(view)
        if shown is None or (shown.expires_at is not None and now >= shown.expires_at):
            return None
        return shown

    def next_expiry(self, now: float) -> float | None:
        times = [
            s.expires_at
            for s in self.views.values()
            if s is not None and s.expires_at is not None and s.expires_at > now
        ]
        return min(times) if times else None

    def notice(self, text: str, package_name: str | None = None) -> None:
        self.notices = [*self.notices, Notice(text, package_name)][-MAX_NOTICES:]

    def _app_running(self, package_name: str) -> None:
        self.apps[package_name] = "running"
        self.notices = [n for n in self.notices if n.package_name != package_name]

    def apply(self, frame: dict[str, Any], now: float) -> bool:
        """Take in one frame from the cloud; True when what is shown changed."""
        kind = frame.get("type")
        if kind == "display_event":
            return self._display(frame, now)
        if kind == "connection_ack":
            # A new connection: the cloud sends the current display and microphone state
            # after the ack, so nothing from before a reconnect is left standing.
            self.views = dict.fromkeys(VIEWS)
            self.microphone = False
        if kind in ("connection_ack", "app_state_change"):
            self.connected = True
            self._apps(frame)
            return True
        if kind == "microphone_state_change":
            enabled = bool(frame.get("isMicrophoneEnabled"))
            changed, self.microphone = enabled != self.microphone, enabled
            return changed
        if kind in PHONE_COMMANDS:
            line = self.phone.apply(frame)
            if line is not None:
                self.notice(line)
            return line is not None
        if kind == "connection_error":
            self.notice(f"error {frame.get('code', '')}: {frame.get('message', '')}".strip())
            return True
        return False

    def _display(self, frame: dict[str, Any], now: float) -> bool:
        view = frame.get("view") if frame.get("view") in VIEWS else "main"
        layout = frame.get("layout")
        if not isinstance(layout, dict):
            return False
        if layout.get("layoutType") == "clear_view":
            self.views[view] = None
            return True
        duration = frame.get("durationMs")
        expires = now + duration / 1000 if isinstance(duration, int | float) else None
        self.views[view] = Shown(str(frame.get("packageName", "")), layout, expires)
        return True

    def _apps(self, frame: dict[str, Any]) -> None:
        snapshot = frame.get("userSession")
        if isinstance(snapshot, dict):
            self.apps = dict.fromkeys(snapshot.get("loadingApps") or (), "loading")
            for running in snapshot.get("activeAppSessions") or ():
                self._app_running(running)
        package, state = frame.get("packageName"), frame.get("state")
        if not isinstance(package, str):
            return
        if state == "stopped":
            self.apps.pop(package, None)
            for view, shown in self.views.items():
                if shown is not None and shown.package_name == package:
                    self.views[view] = None
            error = frame.get("error")
            if isinstance(error, dict):
                self.notice(
                    f"{package} failed ({error.get('stage', '?')}): {error.get('message', '')}",
                    package,
                )
            else:
                self.notice(f"{package} stopped ({frame.get('reason', '')})", package)
        elif state == "running":
            self._app_running(package)
        elif isinstance(state, str):
            self.apps[package] = state
