"""Whether the phone should stream microphone audio, debounced as the reference does:
the first change is sent at once, then a 1 s window collects further changes and sends the
final value only if it differs from the last one sent (reference-behavior.md §4.6)."""

from __future__ import annotations

from collections.abc import Callable

from glasscloud.core.clock import Clock, TimerHandle


class MicrophoneState:
    def __init__(self, clock: Clock, window: float, send: Callable[[bool], None]) -> None:
        self._clock = clock
        self._window = window
        self._send = send
        self._last_sent: bool | None = None
        self._pending: bool | None = None
        self._timer: TimerHandle | None = None

    @property
    def last_sent(self) -> bool | None:
        return self._last_sent

    def update(self, enabled: bool) -> None:
        if self._timer is None:
            if enabled != self._last_sent:
                self._emit(enabled)
                self._timer = self._clock.call_later(self._window, self._window_closed)
            return
        self._pending = enabled

    def resend(self) -> None:
        """Send the current value again (a reconnected phone needs to hear it)."""
        if self._last_sent is not None:
            self._send(self._last_sent)

    def _window_closed(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, None
        if pending is not None and pending != self._last_sent:
            self._emit(pending)
            self._timer = self._clock.call_later(self._window, self._window_closed)

    def _emit(self, enabled: bool) -> None:
        self._last_sent = enabled
        self._send(enabled)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None
