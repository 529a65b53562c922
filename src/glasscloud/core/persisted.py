"""What one session last handed to the store for one kind of state (which Apps run, what
they resume with), so that an unchanged value is not written again.

Why: when users come back together (a node failed, a restart), each restored session binds
its Apps again and re-subscribes them, and every bind and subscription change asked for a
write of state that was exactly what the store had just returned (measured: 1.4 writes of
"which Apps run" and 1 of "what Apps resume with" per restored session, ~1 ms of CPU each;
bench/session_open.py). The session seeds this with what it restored, and each later value
is written only if it differs from the last one asked for.

A write that fails is not retried by asking again with the same value (the shell's
coalesced writer logs it, and the next different value replaces it), as before.
"""

from __future__ import annotations

from typing import Any

_UNKNOWN: Any = object()


class LastSaved:
    def __init__(self) -> None:
        self._value: Any = _UNKNOWN

    def remember(self, value: Any) -> None:
        """The store holds `value` (it was just read from there)."""
        self._value = value

    def changed(self, value: Any) -> bool:
        """Whether `value` must be written: True (and remembered) unless it equals the last
        value remembered or asked for."""
        if value == self._value:
            return False
        self._value = value
        return True
