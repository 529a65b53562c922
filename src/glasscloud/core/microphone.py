"""Whether the phone should stream microphone audio, debounced as the reference does:
the first change is sent at once, then a 1 s window collects further changes and sends the
final value only if it differs from the last one sent."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from glasscloud.core.clock import Clock, TimerHandle
from glasscloud.protocol import glasses as glasses_wire

if TYPE_CHECKING:
    from glasscloud.core.context import SessionContext
    from glasscloud.core.lifecycle import AppLifecycle
    from glasscloud.core.router import Router


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


class MicrophoneControl:
    """Whether the phone streams audio, for one session: subscription changes settle for a
    moment (`subscription_mic_debounce`), then the debounced state above decides what the
    glasses are told, in a `microphone_state_change`."""

    def __init__(self, ctx: SessionContext, router: Router, lifecycle: AppLifecycle) -> None:
        self._ctx = ctx
        self._router = router
        self._lifecycle = lifecycle
        self._state = MicrophoneState(ctx.clock, ctx.timings.mic_debounce, self._send)
        self._timer: TimerHandle | None = None

    def subscriptions_changed(self) -> None:
        if self._timer is None:
            self._timer = self._ctx.clock.call_later(
                self._ctx.timings.subscription_mic_debounce, self._recompute
            )

    def glasses_attached(self) -> None:
        """A (re)connected phone hears the current state at once."""
        self._state.resend()
        if self._state.last_sent is None:
            self._recompute()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._state.cancel()

    def _recompute(self) -> None:
        self._timer = None
        self._state.update(self._router.requires_audio())

    def _send(self, enabled: bool) -> None:
        ctx = self._ctx
        mic_session = glasses_wire.microphone_session(
            ctx.user_id,
            ctx.start_time,
            self._lifecycle.active(),
            self._lifecycle.loading(),
            self._router.is_transcribing(),
        )
        ctx.send_to_glasses(
            glasses_wire.microphone_state_change(
                ctx.user_id, mic_session, enabled, self._router.required_data(), ctx.timestamp()
            )
        )
