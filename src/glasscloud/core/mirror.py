"""A live mirror of what one user's glasses are shown, for the operator's console.

Sans-I/O. The session feeds a `Mirror` only while someone watches (`SessionContext.mirror`
is None otherwise, so the relay pays one attribute check per glasses frame and per
transcription, nothing more):
- `glasses_frame(text)` with every frame the display manager (or the session) sends to the
  glasses, whether or not the glasses are attached: only `display_event` frames are read;
- `caption(data)` with every `transcription` result the session delivers to its Apps.

It keeps the current main view, the current dashboard view and the last `captions`
transcriptions (a bounded ring; an interim result replaces the interim before it), and tells
each watcher (a plain callable) every change as a small dict. What it keeps is only what the
glasses would render, as text: the text fields of `text_wall`, `double_text_wall`,
`reference_card` and `dashboard_card` (each cut at `MAX_TEXT` characters), a bitmap as its
size, any other layout by its type. It never keeps raw frames, audio, photos, locations,
notifications, settings or tokens (docs/decisions.md, "The console's mirror").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from glasscloud.protocol.jsonio import decode_json

TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "text_wall": ("text",),
    "double_text_wall": ("topText", "bottomText"),
    "reference_card": ("title", "text"),
    "dashboard_card": ("leftText", "rightText"),
}
MAX_TEXT = 2000  # characters kept of one text field
CAPTIONS = 50  # transcriptions kept
_DISPLAY_PREFIX = '{"type":"display_event"'

Watcher = Callable[[dict[str, Any]], None]


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text[:MAX_TEXT]


def render_layout(layout: Any) -> dict[str, Any]:
    """The part of a layout the glasses render, as text (see the module docstring)."""
    if not isinstance(layout, dict):
        return {"layoutType": "unknown"}
    kind = layout.get("layoutType")
    kind = kind[:40] if isinstance(kind, str) else "unknown"
    fields = TEXT_FIELDS.get(kind)
    if fields is not None:
        return {"layoutType": kind, **{name: _text(layout.get(name)) for name in fields}}
    if kind == "bitmap_view":
        data = layout.get("data")
        size = len(data) * 3 // 4 if isinstance(data, str) else 0
        return {"layoutType": kind, "bitmapBytes": size}
    return {"layoutType": kind}


class Mirror:
    """One user's mirror: current views, recent captions, and who watches."""

    def __init__(self, wall: Callable[[], float], captions: int = CAPTIONS) -> None:
        self._wall = wall
        self.main: dict[str, Any] | None = None
        self.dashboard: dict[str, Any] | None = None
        self.captions: deque[dict[str, Any]] = deque(maxlen=captions)
        self.watchers: list[Watcher] = []

    # ---- what the session feeds ------------------------------------------------------

    def glasses_frame(self, text: str) -> None:
        if not text.startswith(_DISPLAY_PREFIX):
            return
        try:
            obj = decode_json(text)
        except Exception:
            return
        if isinstance(obj, dict):
            self.display(
                obj.get("view"), obj.get("packageName"), obj.get("layout"), obj.get("durationMs")
            )

    def display(self, view: Any, package_name: Any, layout: Any, duration_ms: Any = None) -> None:
        frame = {
            "packageName": _text(package_name)[:200],
            "layout": render_layout(layout),
            "durationMs": duration_ms if isinstance(duration_ms, int | float) else None,
            "at": self._wall(),
        }
        kind = "dashboard" if view == "dashboard" else "main"
        if kind == "dashboard":
            self.dashboard = frame
        else:
            self.main = frame
        self._emit({"type": kind, "frame": frame})

    def caption(self, data: dict[str, Any]) -> None:
        entry = {
            "text": _text(data.get("text")),
            "isFinal": bool(data.get("isFinal")),
            "language": _text(data.get("transcribeLanguage"))[:20],
            "speakerId": _text(data.get("speakerId"))[:20],
            "at": self._wall(),
        }
        last = self.captions[-1] if self.captions else None
        replace = (
            last is not None
            and not last["isFinal"]
            and last["language"] == entry["language"]
            and last["speakerId"] == entry["speakerId"]
        )
        if replace:
            self.captions[-1] = entry
        else:
            self.captions.append(entry)
        self._emit({"type": "caption", "caption": entry, "replace": replace})

    # ---- watchers --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "type": "snapshot",
            "main": self.main,
            "dashboard": self.dashboard,
            "captions": list(self.captions),
        }

    def add(self, watcher: Watcher) -> None:
        self.watchers.append(watcher)

    def remove(self, watcher: Watcher) -> bool:
        """Forget a watcher; True when nobody watches any more."""
        if watcher in self.watchers:
            self.watchers.remove(watcher)
        return not self.watchers

    def _emit(self, update: dict[str, Any]) -> None:
        for watcher in list(self.watchers):
            watcher(update)


def seed_from_display(mirror: Mirror, display: Any) -> None:
    """Fill a new mirror with what the display manager shows now (a watcher that arrives
    mid-session sees the current views at once). Reads `DisplayManager`'s screen and last
    dashboard frame; another display implementation leaves the mirror empty until its next
    frame."""
    from glasscloud.core.display_content import CLEAR, BootScreen, Content

    screen = getattr(display, "screen", None)
    package = getattr(display, "dashboard_package", "")
    if isinstance(screen, Content):
        mirror.display("main", screen.package_name, screen.layout, screen.duration_ms)
    elif isinstance(screen, BootScreen):
        mirror.display("main", package, screen.layout())
    elif screen == CLEAR:
        mirror.display("main", package, {"layoutType": "text_wall", "text": ""}, 0)
    frame = getattr(getattr(display, "dashboard_view", None), "last_frame", None)
    if isinstance(frame, str):
        mirror.glasses_frame(frame)
