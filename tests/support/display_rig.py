"""A DisplayManager on a ManualClock with an in-memory context: what the glasses and the
Apps received, with the clock time of each send."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from glasscloud.core.clock import ManualClock
from glasscloud.core.display import DisplayContext
from glasscloud.core.display_manager import DisplayManager
from glasscloud.core.timings import Timings

USER = "ann@example.com"
DASH = "system.augmentos.dashboard"
T = Timings()


class Rig:
    def __init__(self, timings: Timings = T, settle: bool = True) -> None:
        self.clock = ManualClock()
        self.t0 = self.clock.now()
        self.running: set[str] = set()
        self.types: dict[str, str] = {}
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.to_apps: dict[str, list[dict[str, Any]]] = defaultdict(list)
        ctx = DisplayContext(
            self.clock,
            timings,
            self._to_glasses,
            self.running.__contains__,
            lambda: "2026-01-01T00:00:00.000Z",
            self.types.get,
            user_id=USER,
            send_to_app=lambda p, text: self.to_apps[p].append(json.loads(text)),
        )
        self.dm = DisplayManager(ctx, dashboard_package=DASH)
        self.timings = timings

    def _to_glasses(self, text: str) -> None:
        message = json.loads(text)
        assert message["type"] == "display_event"
        self.sent.append((self.clock.now(), message))

    # ---- driving ---------------------------------------------------------------------

    def start(self, package: str, app_type: str = "background", name: str | None = None) -> None:
        self.types[package] = app_type
        self.running.add(package)
        self.dm.app_starting(package, name or package)

    def started(self, *packages: str, main: str | None = None) -> None:
        """Start these Apps and let their boot screen end (plus one throttle window)."""
        for package in packages:
            self.start(package, "standard" if package == main else "background")
        self.advance(self.timings.boot_duration + self.timings.display_throttle)

    def stop(self, package: str) -> None:
        self.running.discard(package)
        self.dm.app_stopped(package)

    def show(self, package: str, text: str, duration: float | None = None, **extra: Any) -> str:
        request: dict[str, Any] = {
            "type": "display_event",
            "view": extra.pop("view", "main"),
            "layout": extra.pop("layout", {"layoutType": "text_wall", "text": text}),
            **extra,
        }
        if duration is not None:
            request["durationMs"] = duration
        return self.dm.show(package, request)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @property
    def now(self) -> float:
        return self.clock.now()

    # ---- reading ---------------------------------------------------------------------

    def main(self) -> list[dict[str, Any]]:
        return [m for _, m in self.sent if m["view"] == "main"]

    def main_times(self) -> list[float]:
        return [t for t, m in self.sent if m["view"] == "main"]

    def dashboard(self) -> list[dict[str, Any]]:
        return [m for _, m in self.sent if m["view"] == "dashboard"]

    def last(self) -> dict[str, Any]:
        return self.main()[-1]

    def texts(self) -> list[str | None]:
        return [m["layout"].get("text") for m in self.main()]

    def app_texts(self, package: str) -> list[str | None]:
        return [m["layout"].get("text") for m in self.main() if m["packageName"] == package]


def is_boot(message: dict[str, Any]) -> bool:
    return (
        message["packageName"] == DASH
        and message["layout"]["layoutType"] == "reference_card"
        and "Starting App" in message["layout"]["title"]
    )


def is_clear(message: dict[str, Any]) -> bool:
    return (
        message["packageName"] == DASH
        and message["layout"] == {"layoutType": "text_wall", "text": ""}
        and message.get("durationMs") == 0
    )
