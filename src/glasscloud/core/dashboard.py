"""The dashboard: what the glasses show when the user looks up (view `dashboard`).

The system dashboard App fills four text sections and picks the mode; other Apps each
contribute one item per mode. The dashboard is rendered into one layout and sent at once
(never throttled: the client only caches it). Rendering is the reference cloud's layout
(docs/display.md).

Fixed against the reference: the rotation order is stable (an App updating its item does
not reorder the list, so a head-up never skips or repeats an item); an identical render is
not re-sent; the last render is replayed after a glasses reconnect; only the configured
system dashboard package (taken from the App's socket, never the message) may set sections
or change the mode.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glasscloud.protocol.jsonio import encode

SECTIONS = ("topLeft", "topRight", "bottomLeft", "bottomRight")
MODES = ("main", "expanded")
NO_EXPANDED = "No expanded content available"


@dataclass
class _Item:
    content: str
    first_written: int  # order of first write: the rotation order, stable across updates
    last_written: int


def flatten(content: str | dict[str, Any]) -> str:
    """An App's dashboard content as text (strings as they are, layouts flattened)."""
    if isinstance(content, str):
        return content
    kind = content.get("layoutType")
    if kind == "text_wall":
        return str(content.get("text", ""))
    if kind == "double_text_wall":
        return f"{content.get('topText', '')}\n{content.get('bottomText', '')}"
    if kind == "dashboard_card":
        return f"{content.get('leftText', '')} | {content.get('rightText', '')}"
    if kind == "reference_card":
        return f"{content.get('title', '')}\n{content.get('text', '')}"
    return ""


class Dashboard:
    """Dashboard state for one session. `send(layout)` puts a rendered layout on the wire
    (the display manager wraps it into a `display_event` with view `dashboard`)."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self.mode = "main"
        self.sections: dict[str, str] = dict.fromkeys(SECTIONS, "")
        self._items: dict[str, dict[str, _Item]] = {mode: {} for mode in MODES}
        self._focus: str | None = None  # the App whose item main mode shows
        self._seq = itertools.count()
        self.last_layout: dict[str, Any] | None = None

    # ---- inputs ----------------------------------------------------------------------

    def write(self, package_name: str, content: str | dict[str, Any], modes: list[str]) -> None:
        """`dashboard_content_update`: one item per App and mode; the newest App's first
        write takes the focus in main mode, later updates keep their place."""
        text = flatten(content)
        seq = next(self._seq)
        for mode in modes:
            if mode not in self._items:
                continue  # always_on: stored nowhere (the reference cloud never renders it)
            items = self._items[mode]
            item = items.get(package_name)
            if item is None:
                items[package_name] = _Item(text, seq, seq)
                if mode == "main":
                    self._focus = package_name
            else:
                item.content = text
                item.last_written = seq
        if self.mode in modes:
            self.render()

    def set_section(self, section: str, content: str) -> None:
        self.sections[section] = content
        self.render()

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self.render()

    def head_up(self) -> None:
        """In main mode with several App items, show the next one."""
        order = self._main_order()
        if self.mode != "main" or len(order) < 2:
            return
        index = order.index(self._focused(order))
        self._focus = order[(index + 1) % len(order)]
        self.render()

    def remove_app(self, package_name: str) -> None:
        removed = False
        for items in self._items.values():
            removed = items.pop(package_name, None) is not None or removed
        if self._focus == package_name:
            self._focus = None
        if removed:
            self.render()

    def items_of(self, package_name: str) -> dict[str, str]:
        """The App's item in each mode that has one."""
        return {
            mode: items[package_name].content
            for mode, items in self._items.items()
            if package_name in items
        }

    # ---- rendering -------------------------------------------------------------------

    def _main_order(self) -> list[str]:
        """Newest first by first write: stable when an App updates its item."""
        items = self._items["main"]
        return sorted(items, key=lambda p: items[p].first_written, reverse=True)

    def _focused(self, order: list[str]) -> str:
        return self._focus if self._focus in order else order[0]

    def layout(self) -> dict[str, Any]:
        s = self.sections
        if self.mode == "expanded":
            expanded = self._items["expanded"]
            newest = max(expanded.values(), key=lambda i: i.last_written, default=None)
            second = newest.content if newest is not None else NO_EXPANDED
            return {
                "layoutType": "text_wall",
                "text": f"{s['topLeft']} | {s['topRight']}\n{second}",
            }
        order = self._main_order()
        item = self._items["main"][self._focused(order)].content if order else ""
        top = s["topLeft"] + (f"\n{s['bottomLeft']}" if s["bottomLeft"] else "")
        if s["bottomRight"]:
            bottom = f"{s['topRight']}\n{s['bottomRight']}" + (f"\n\n{item}" if item else "")
        else:
            bottom = f"{s['topRight']}\n{item}"
        return {"layoutType": "double_text_wall", "topText": top, "bottomText": bottom}

    def render(self) -> None:
        layout = self.layout()
        if self.last_layout is not None and encode(layout) == encode(self.last_layout):
            return
        self.last_layout = layout
        self._send(layout)
