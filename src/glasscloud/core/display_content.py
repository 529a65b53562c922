"""What the main view can show, as the display manager keeps it: an App's content, the boot
screen, or a clear; and the small records of its lock and of each started App."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from glasscloud.core.clock import TimerHandle

EPS = 1e-6  # timer slack: a deadline counts as reached this close to it
BOOT_TITLE = "// MentraOS - Starting App"


@dataclass(eq=False)
class Content:
    """One App display request for the main view."""

    package_name: str
    layout: dict[str, Any]
    duration_ms: float | None
    seq: int
    pending_since: float  # when the App's pending slot filled (kept across replacements)
    shown_at: float | None = None  # first time it went to the glasses
    interrupted: bool = False  # taken off screen by a boot screen, not by another App

    def expires_at(self) -> float | None:
        if self.shown_at is None or not self.duration_ms:
            return None
        return self.shown_at + self.duration_ms / 1000.0


@dataclass(frozen=True)
class BootScreen:
    names: tuple[str, ...]

    def layout(self) -> dict[str, Any]:
        title = BOOT_TITLE + ("s" if len(self.names) > 1 else "")
        return {"layoutType": "reference_card", "title": title, "text": ", ".join(self.names)}


CLEAR = "clear"  # what the screen shows after a clear

Target = Content | BootScreen | None  # what the main view should show (None: nothing)


@dataclass
class DisplayLock:
    holder: str
    expires_at: float
    last_active: float


@dataclass
class StartedApp:
    name: str
    started: int
    boot_timer: TimerHandle | None = field(default=None, repr=False)
