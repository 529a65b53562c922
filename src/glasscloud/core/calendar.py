"""The user's calendar events, kept for Apps that subscribe later (as the reference cloud
does): the phone sends each `calendar_event` once, so an App that subscribes to
`calendar_event` after it arrived would otherwise never see it. The newest `MAX_EVENTS`
(one per `eventId`) are kept in the session (never persisted) and replayed to an App when
its subscription to `calendar_event` is new; the subscription itself needed `CALENDAR`.
"""

from __future__ import annotations

from collections import OrderedDict

from glasscloud.core.apps import AppSlot
from glasscloud.core.context import SessionContext
from glasscloud.core.subscriptions import SubscriptionIndex
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.glasses import GlassesMessage

STREAM = "calendar_event"
MAX_EVENTS = 50


class CalendarCache:
    def __init__(self, ctx: SessionContext, subscriptions: SubscriptionIndex) -> None:
        self.ctx = ctx
        self.subscriptions = subscriptions
        self._events: OrderedDict[str, str] = OrderedDict()  # eventId -> frame text

    def event(self, msg: GlassesMessage) -> None:
        key = str(msg.obj.get("eventId") or len(self._events))
        self._events.pop(key, None)
        self._events[key] = msg.text
        while len(self._events) > MAX_EVENTS:
            self._events.popitem(last=False)

    def subscribed_to(self, package_name: str) -> str | None:
        """The App's own `calendar_event` subscription string, if it has one."""
        for sub in self.subscriptions.of(package_name):
            if sub.key == STREAM:
                return sub.raw
        return None

    def after_update(self, slot: AppSlot, before: str | None) -> None:
        """After the App's `subscription_update`: replay if `calendar_event` is new."""
        raw = self.subscribed_to(slot.package_name)
        if raw is None or before is not None or not slot.live or not self._events:
            return
        ts = self.ctx.timestamp()
        for text in self._events.values():
            slot.conn.send_text(  # type: ignore[union-attr]
                app_wire.data_stream_frame(slot.prefix(raw), text, ts)
            )
        self.ctx.metrics.inc("calendar_replays")
