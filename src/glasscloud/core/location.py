"""Where the user is, for one session.

Rules, in order:
- every `location_update` the phone sends is kept as the last fix (with the time it
  arrived) and delivered to the Apps subscribed to `location_update` / `location_stream`,
  except a fix that answers one App's poll (its `correlationId` is waiting): that one goes
  to the asker only (it is kept as the last fix, never broadcast: the asker would get it
  twice, since the SDK listens for polls on its `location_update` handler);
- the phone is asked for the most demanding tier any running App needs: a subscription
  naming a `rate` needs that tier, one naming none (SDK 2.1.29 always) `DEFAULT_TIER`, a
  wildcard App with LOCATION `DEFAULT_TIER` (as it receives location like the microphone's
  wildcard rule); subscription changes settle for `subscription_mic_debounce` first (an
  SDK poll subscribes and unsubscribes around its question). When nobody needs it any
  more, the phone is told `IDLE_TIER`. A reconnected phone hears the current tier;
- an App that newly subscribes gets the last fix at once, as the reference does, if it is
  younger than its tier's `MAX_AGE` (an old position is worse than waiting for the next);
- `location_poll_request` (SDK `getLatestLocation`) needs LOCATION; it is answered at once
  from a fix younger than `MAX_AGE[accuracy]`, else the phone is asked
  (`request_single_location` with the accuracy and the App's `correlationId`) and the
  request waits `location_poll_timeout` s (`core.requests`). A poll that gets no fix ends
  with a LOCATION_UNAVAILABLE error frame naming the request (the SDK rejects its own
  promise after 15 s; our error arrives first, as its `error` event).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.clock import TimerHandle
from glasscloud.core.context import SessionContext
from glasscloud.core.parts import SessionPart
from glasscloud.core.requests import Pending
from glasscloud.protocol import location as wire
from glasscloud.protocol.app import data_stream_frame
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage
from glasscloud.protocol.streams import LOCATION, has_permission

STREAMS = ("location_update", "location_stream")
POLL = frozenset({"location_poll"})

if TYPE_CHECKING:
    from glasscloud.core.router import Router


class LocationControl(SessionPart):
    def __init__(
        self, ctx: SessionContext, router: Router, glasses_connected: Callable[[], bool]
    ) -> None:
        self.ctx = ctx
        self.router = router
        self.glasses_connected = glasses_connected
        self.last_fix: dict[str, Any] | None = None
        self.last_fix_at = 0.0
        self.sent_tier: str | None = None
        self._subscribers: set[str] = set()
        self._timer: TimerHandle | None = None
        self.glasses_handlers = {"location_update": self.fix}
        self.app_handlers = {"location_poll_request": self.poll}

    # ---- the tier ----------------------------------------------------------------------

    def desired_tier(self) -> str | None:
        """The most demanding tier a running App needs now; None: nobody needs location."""
        tiers: list[str] = []
        subs = self.router.subscriptions
        subscribers = {p for key in STREAMS for p, _raw in subs.recipients(key)}
        for package_name in subscribers:
            for sub in subs.of(package_name):
                if sub.key in STREAMS:
                    tiers.append(sub.rate or wire.DEFAULT_TIER)
        for package_name in subs.wildcard_apps:
            slot = self.router.slots.get(package_name)
            if slot is not None and has_permission(slot.permissions, LOCATION):
                tiers.append(wire.DEFAULT_TIER)
        return wire.most_demanding(tiers) if tiers else None

    def subscriptions_changed(self) -> None:
        if self._timer is None:
            self._timer = self.ctx.clock.call_later(
                self.ctx.timings.subscription_mic_debounce, self._recompute
            )

    def _recompute(self) -> None:
        self._timer = None
        self._greet_new_subscribers()
        tier = self.desired_tier()
        if tier is None:
            if self.sent_tier is None or self.sent_tier == wire.IDLE_TIER:
                return  # never asked, or already told nobody needs it
            tier = wire.IDLE_TIER
        if tier != self.sent_tier:
            self.sent_tier = tier
            self.ctx.send_to_glasses(wire.set_location_tier(tier, self.ctx.timestamp()))

    def _greet_new_subscribers(self) -> None:
        subs = self.router.subscriptions
        now = {p for key in STREAMS for p, _raw in subs.recipients(key)}
        new, self._subscribers = now - self._subscribers, now
        if self.last_fix is None or not new:
            return
        age = self.ctx.clock.now() - self.last_fix_at
        ts = self.ctx.timestamp()
        for package_name in new:
            slot = self.router.slots.get(package_name)
            for sub in subs.of(package_name):
                fresh = age <= wire.MAX_AGE[sub.rate or wire.DEFAULT_TIER]
                if sub.key in STREAMS and fresh and slot is not None and slot.live:
                    data = wire.fix_data(self.last_fix, ts)
                    slot.conn.send_text(  # type: ignore[union-attr]
                        data_stream_frame(slot.prefix(sub.raw), data, ts)
                    )

    def glasses_attached(self) -> None:
        if self.sent_tier is not None:
            self.ctx.send_to_glasses(wire.set_location_tier(self.sent_tier, self.ctx.timestamp()))

    # ---- fixes -------------------------------------------------------------------------

    def fix(self, msg: GlassesMessage) -> None:
        obj = msg.obj
        self.last_fix = obj
        self.last_fix_at = self.ctx.clock.now()
        pending = self.router.requests.resolve(obj.get("correlationId"), POLL)
        if pending is not None:
            self._answer(pending.package_name, pending.request_id)
            return
        self.router.deliver("location_update", msg.text)
        self.router.deliver("location_stream", msg.text, wildcards=False)

    def _answer(self, package_name: str, correlation_id: str) -> None:
        slot = self.router.slots.get(package_name)
        if slot is None or not slot.live or not has_permission(slot.permissions, LOCATION):
            self.ctx.metrics.inc("location_answers_dropped")
            return
        assert self.last_fix is not None
        ts = self.ctx.timestamp()
        data = wire.fix_data(self.last_fix, ts, correlation_id)
        slot.conn.send_text(  # type: ignore[union-attr]
            data_stream_frame(slot.prefix("location_update"), data, ts)
        )
        self.ctx.metrics.inc("location_polls_answered")

    # ---- polls -------------------------------------------------------------------------

    def poll(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        correlation_id, accuracy = wire.validate_poll(obj)
        what = f"location_poll_request {correlation_id}"
        if not has_permission(slot.permissions, LOCATION):
            self.ctx.metrics.inc("permission_denials")
            return ProtocolError(
                ErrorCode.PERMISSION_DENIED,
                f"{what}: getLatestLocation needs the LOCATION permission; add it to the App "
                "(glasscloud apps create ... --permission LOCATION).",
            )
        age = self.ctx.clock.now() - self.last_fix_at
        if self.last_fix is not None and age <= wire.MAX_AGE[accuracy]:
            self._answer(slot.package_name, correlation_id)
            return None
        if not self.glasses_connected():
            return _unavailable(what, "the user's phone is not connected, so no fix can be had")
        self.router.requests.add(
            correlation_id,
            slot.package_name,
            "location_poll",
            self.ctx.timings.location_poll_timeout,
            self._poll_ended,
        )
        self.ctx.send_to_glasses(
            wire.request_single_location(accuracy, correlation_id, self.ctx.timestamp())
        )
        return None

    def _poll_ended(self, pending: Pending, reason: str) -> None:
        slot = self.router.slots.get(pending.package_name)
        if slot is None or not slot.live:
            return
        why = {
            "timeout": f"the phone sent no fix within {self.ctx.timings.location_poll_timeout:g} s",
            "glasses_gone": "the user's phone disconnected before it sent a fix",
        }.get(reason, f"it ended ({reason})")
        self.ctx.app_error(slot, _unavailable(f"location_poll_request {pending.request_id}", why))

    def dispose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _unavailable(what: str, why: str) -> ProtocolError:
    return ProtocolError(ErrorCode.LOCATION_UNAVAILABLE, f"{what}: {why}.", "correlationId")
