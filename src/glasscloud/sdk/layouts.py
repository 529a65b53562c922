"""`session.layouts`: what the App shows on the glasses. Each call sends one
`display_event`; `view` is `main` (default) or `dashboard`, and `duration_ms`, when given,
asks the glasses to clear the view after that long."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from glasscloud.protocol.app import VIEWS
from glasscloud.sdk import frames

MAIN = "main"
DASHBOARD = "dashboard"


class Layouts:
    def __init__(
        self, package_name: str, send: Callable[[str], None], timestamp: Callable[[], str]
    ) -> None:
        self._package_name = package_name
        self._send = send
        self._timestamp = timestamp

    def show(
        self, layout: dict[str, Any], *, view: str = MAIN, duration_ms: float | None = None
    ) -> None:
        """Send any layout object (see `glasscloud.sdk.frames` for the builders)."""
        if view not in VIEWS:
            raise ValueError(f"view must be 'main' or 'dashboard', not {view!r}")
        if duration_ms is not None and duration_ms < 0:
            raise ValueError("duration_ms must be >= 0")
        self._send(
            frames.display_event(self._package_name, view, layout, duration_ms, self._timestamp())
        )

    def show_text_wall(
        self, text: str, *, view: str = MAIN, duration_ms: float | None = None
    ) -> None:
        self.show(frames.text_wall(text), view=view, duration_ms=duration_ms)

    def show_double_text_wall(
        self,
        top_text: str,
        bottom_text: str,
        *,
        view: str = MAIN,
        duration_ms: float | None = None,
    ) -> None:
        self.show(
            frames.double_text_wall(top_text, bottom_text), view=view, duration_ms=duration_ms
        )

    def show_reference_card(
        self, title: str, text: str, *, view: str = MAIN, duration_ms: float | None = None
    ) -> None:
        self.show(frames.reference_card(title, text), view=view, duration_ms=duration_ms)

    def show_dashboard_card(
        self,
        left_text: str,
        right_text: str,
        *,
        view: str = DASHBOARD,
        duration_ms: float | None = None,
    ) -> None:
        """Two texts side by side; shown on the dashboard unless `view` says otherwise."""
        self.show(frames.dashboard_card(left_text, right_text), view=view, duration_ms=duration_ms)

    def show_bitmap_view(
        self, data: bytes | str, *, view: str = MAIN, duration_ms: float | None = None
    ) -> None:
        """A BMP image: raw bytes, or already base64-encoded text."""
        if isinstance(data, bytes | bytearray):
            data = base64.b64encode(data).decode("ascii")
        self.show(frames.bitmap_view(data), view=view, duration_ms=duration_ms)

    def show_bitmap_animation(
        self,
        frame_images: Sequence[bytes | str],
        *,
        interval_ms: float = 1650,
        repeat: bool = False,
        view: str = MAIN,
    ) -> None:
        encoded = [
            base64.b64encode(f).decode("ascii") if isinstance(f, bytes | bytearray) else f
            for f in frame_images
        ]
        self.show(frames.bitmap_animation(encoded, interval_ms, repeat), view=view)

    def clear_view(self, *, view: str = MAIN) -> None:
        self.show(frames.clear_view(), view=view)
