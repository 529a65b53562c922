"""Layouts as terminal text. Pure functions: a layout (the `layout` object of a
`display_event`) becomes lines of at most `width` characters, and the whole simulated
display (main view, dashboard, Apps) becomes one printable block."""

from __future__ import annotations

import base64
import binascii
import struct
import textwrap
from typing import Any

from glasscloud.simulator.state import GlassesState

WIDTH = 48


def wrap(text: str, width: int) -> list[str]:
    """Word-wrap, keeping the sender's line breaks."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return lines


def _bitmap(data: str) -> str:
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return f"[bitmap: not base64, {len(data)} chars]"
    if len(raw) >= 26 and raw[:2] == b"BM":
        width, height = struct.unpack_from("<ii", raw, 18)
        return f"[bitmap {width}x{abs(height)}, {len(raw)} bytes]"
    return f"[bitmap: {len(raw)} bytes, not a BMP]"


def render_layout(layout: dict[str, Any], width: int = WIDTH) -> list[str]:
    kind = layout.get("layoutType")

    def text(name: str) -> str:
        value = layout.get(name)
        return value if isinstance(value, str) else ""

    if kind == "text_wall":
        return [] if not text("text") else wrap(text("text"), width)
    if kind == "double_text_wall":
        return [*wrap(text("topText"), width), "-" * width, *wrap(text("bottomText"), width)]
    if kind == "reference_card":
        return [*wrap(f"== {text('title')} ==", width), *wrap(text("text"), width)]
    if kind == "dashboard_card":
        left, right = text("leftText"), text("rightText")
        if len(left) + len(right) + 1 <= width:
            return [left + " " * (width - len(left) - len(right)) + right]
        return [*wrap(left, width), *(line.rjust(width) for line in wrap(right, width))]
    if kind == "bitmap_view":
        return [_bitmap(text("data"))]
    if kind == "bitmap_animation":
        frames = layout.get("frames")
        count = len(frames) if isinstance(frames, list) else 0
        repeat = ", repeating" if layout.get("repeat") else ""
        return [f"[animation: {count} frames every {layout.get('interval', '?')} ms{repeat}]"]
    if kind == "clear_view":
        return []
    return [f"[unsupported layout: {kind}]"]


def _box(title: str, lines: list[str], width: int) -> list[str]:
    head = f"+-- {title} "
    out = [head + "-" * max(0, width + 3 - len(head)) + "+"]
    out.extend(f"| {line.ljust(width)} |" for line in lines or [""])
    return out


def render_screen(state: GlassesState, now: float, width: int = WIDTH) -> str:
    """Both views and the status lines (Apps, microphone, connection, notices), as printable
    text."""
    out: list[str] = []
    for view in ("main", "dashboard"):
        shown = state.visible(view, now)
        title = view if shown is None else f"{view}: {shown.package_name}"
        lines = [] if shown is None else render_layout(shown.layout, width)
        out.extend(_box(title, lines, width))
    out.append("+" + "-" * (width + 2) + "+")
    apps = ", ".join(f"{p} ({s})" for p, s in sorted(state.apps.items())) or "none"
    out.append(f"apps: {apps}")
    out.append(f"microphone: {'on' if state.microphone else 'off'}")
    if state.link_status is not None:
        out.append(f"connection: {state.link_status}")
    out.extend(f"! {notice.text}" for notice in state.notices)
    return "\n".join(out)
