"""Who receives what inside one user session: the hot path.

The router owns the session's subscription index and its speech recogniser. It delivers
glasses events, audio and transcriptions to the running Apps that subscribed, and applies
an App's `subscription_update` after checking each entry's permission. It reads the App
slots the lifecycle owns (a shared mapping) and never changes them.

Rules, in the order they are applied:
- an App is sent nothing unless it is connected and running (`AppSlot.live`);
- an exact subscription receives the exact string it subscribed with as `streamType`;
- a wildcard subscriber (`*`, `all`) receives an event only if its permissions cover that
  event's stream (a wildcard is no way around permissions), and never an event it also has
  an exact subscription for (no duplicates);
- the answer to a request (a photo, a position fix) goes only to the App that asked
  (`core.requests`), if it may see it: such types are never routed through subscriptions;
- one rejected `subscription_update` costs the App one error frame, whatever its size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.context import SessionContext
from glasscloud.core.parts import GlassesHandler, SessionPart
from glasscloud.core.requests import PendingRequests
from glasscloud.core.subscriptions import SubscriptionIndex
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage, transcription_data
from glasscloud.protocol.jsonio import encode, iso_timestamp
from glasscloud.protocol.streams import (
    MICROPHONE,
    has_permission,
    is_response,
    parse_subscription,
    required_permission,
    transcription_key,
)

# Glasses event types delivered under more than one routing key (old and new stream names).
ROUTE_ALIASES: dict[str, tuple[str, ...]] = {
    "notification_dismissed": ("notification_dismissed", "phone_notification_dismissed"),
}

# More entries than this in one subscription_update are refused (a peer-controlled size).
MAX_SUBSCRIPTIONS = 256
# How many rejected entries one error frame lists by name.
LISTED_REJECTIONS = 10


class Router:
    def __init__(
        self,
        ctx: SessionContext,
        slots: Mapping[str, AppSlot],
        on_change: Callable[[bool], None],
    ) -> None:
        self.ctx = ctx
        self.slots = slots
        self.subscriptions = SubscriptionIndex()
        # Requests Apps made of the glasses; an answer goes only to the App that asked.
        self.requests = PendingRequests(ctx.clock)
        # Parts of the session hooked on routing (core.parts), and the glasses message types
        # they handle instead of the router.
        self.parts: list[SessionPart] = []
        self.glasses_handlers: dict[str, GlassesHandler] = {}
        self._on_change = on_change
        self._wanted_languages: set[str] = set()
        factory = ctx.services.transcription_factory
        assert factory is not None
        self.transcription = factory(
            ctx.user_id, self.deliver_transcription, self.report_transcription_problem
        )

    # ---- glasses -> Apps -------------------------------------------------------------

    def route_glasses_event(self, msg: GlassesMessage) -> None:
        """A validated glasses event that is a stream (not a control message)."""
        kind = msg.type
        if (handler := self.glasses_handlers.get(kind)) is not None:
            handler(msg)
            return
        if is_response(kind):
            self._answer(msg)
            return
        if kind == "touch_event":
            self.deliver("touch_event", msg.text)
            gesture = msg.obj.get("gesture_name")
            if isinstance(gesture, str):
                self.deliver(f"touch_event:{gesture}", msg.text, wildcards=False)
        elif kind in ROUTE_ALIASES:
            first, *others = ROUTE_ALIASES[kind]
            self.deliver(first, msg.text)
            for key in others:
                self.deliver(key, msg.text, wildcards=False)
        else:
            if kind == "VAD":
                self.transcription.vad(msg.obj["status"] in (True, "true"))
            self.deliver(kind, msg.text)

    def _answer(self, msg: GlassesMessage) -> None:
        """An answer to one App's request: to that App, if it still runs and may see it
        (its permission is checked again); never to subscribers."""
        pending = self.requests.resolve(msg.obj.get("requestId"))
        slot = self.slots.get(pending.package_name) if pending is not None else None
        if slot is None or not slot.live:
            self.ctx.metrics.inc("glasses_responses_unrequested", type=msg.type)
            return
        if not has_permission(slot.permissions, required_permission(msg.type)):
            self.ctx.metrics.inc("permission_denials")
            return
        slot.conn.send_text(  # type: ignore[union-attr]
            app_wire.data_stream_frame(slot.prefix(msg.type), msg.text, self.ctx.timestamp())
        )
        self.ctx.metrics.inc("app_deliveries")

    def phone_transcription(self, obj: dict[str, Any]) -> None:
        """The phone's own `local_transcription`, routed like a recogniser's result."""
        self.deliver_transcription(transcription_data(obj, int(self.ctx.clock.wall() * 1000)))

    def deliver_transcription(self, data: dict[str, Any]) -> None:
        """Route one `transcription` result (from the phone or a recogniser) to the Apps
        subscribed to its language (and to `transcription:auto`)."""
        if self.ctx.mirror is not None:  # an operator watches (core/mirror.py)
            self.ctx.mirror.caption(data)
        data_json = encode(data)
        self.deliver(transcription_key(data["transcribeLanguage"]), data_json)
        self.deliver("transcription:auto", data_json, wildcards=False)
        for part in self.parts:
            part.transcription(data)

    def report_transcription_problem(self, key: str, message: str) -> None:
        """A recogniser problem (failure, retry, unsupported language) told to every App
        subscribed to routing key `key` as a `tpa_connection_error` (the socket stays)."""
        self.ctx.metrics.inc("transcription_problems")
        ts = self.ctx.timestamp()
        for package_name, raw in self.subscriptions.recipients(key):
            slot = self.slots.get(package_name)
            if slot is not None and slot.live:
                slot.conn.send_text(  # type: ignore[union-attr]
                    app_wire.connection_error(ErrorCode.TRANSCRIPTION_UNAVAILABLE, message, ts, raw)
                )

    def relay_audio(self, data: bytes) -> None:
        """Binary frames are 16 kHz 16-bit mono PCM; relayed byte-identical."""
        self.transcription.audio(data)
        sent = 0
        exact = self.subscriptions.recipients("audio_chunk")
        for package_name, _raw in exact:
            slot = self.slots.get(package_name)
            if slot is not None and slot.live:
                slot.conn.send_binary(data)  # type: ignore[union-attr]
                sent += 1
        for package_name in self.subscriptions.wildcard_apps:
            slot = self.slots.get(package_name)
            if (
                slot is None
                or not slot.live
                or not has_permission(slot.permissions, MICROPHONE)
                or any(p == package_name for p, _ in exact)
            ):
                continue
            slot.conn.send_binary(data)  # type: ignore[union-attr]
            sent += 1
        metrics = self.ctx.metrics
        metrics.inc("audio_frames_in")
        metrics.inc("audio_frames_out", sent)

    def deliver(self, key: str, data_json: str, wildcards: bool = True) -> None:
        """Send `data_json` as a data_stream to every App subscribed to `key` (see the
        module docstring for exact and wildcard subscribers)."""
        exact = self.subscriptions.recipients(key)
        wild = self.subscriptions.wildcard_apps if wildcards else ()
        if not exact and not wild:
            return
        ts = iso_timestamp(self.ctx.clock.wall())
        for package_name, raw in exact:
            self._send_data(package_name, raw, data_json, ts)
        if wild:
            required = required_permission(key)
            exact_apps = {p for p, _ in exact}
            for package_name in wild:
                slot = self.slots.get(package_name)
                if package_name in exact_apps or slot is None:
                    continue
                if has_permission(slot.permissions, required):
                    self._send_data(package_name, key, data_json, ts)

    def _send_data(self, package_name: str, stream_type: str, data_json: str, ts: str) -> None:
        slot = self.slots.get(package_name)
        if slot is None or not slot.live:
            self.ctx.metrics.inc("app_deliveries_dropped", reason="not_connected")
            return
        slot.conn.send_text(  # type: ignore[union-attr]
            app_wire.data_stream_frame(slot.prefix(stream_type), data_json, ts)
        )
        self.ctx.metrics.inc("app_deliveries")

    # ---- subscriptions ---------------------------------------------------------------

    def update(self, slot: AppSlot, entries: list[Any]) -> None:
        """An App's `subscription_update` (the whole set). Malformed entries are answered
        with one error frame listing them; entries the App lacks the permission for with
        one `permission_error`; the rest replace the App's subscriptions."""
        accepted = []
        malformed: list[ProtocolError] = []
        denied: list[dict[str, str]] = []
        if len(entries) > MAX_SUBSCRIPTIONS:
            malformed.append(
                ProtocolError(
                    ErrorCode.INVALID_FIELD,
                    f"{len(entries)} entries; at most {MAX_SUBSCRIPTIONS} are accepted, the "
                    "rest were ignored",
                    "subscriptions",
                )
            )
            entries = entries[:MAX_SUBSCRIPTIONS]
        for index, entry in enumerate(entries):
            try:
                sub = parse_subscription(entry, f"subscriptions[{index}]")
            except ProtocolError as error:
                malformed.append(error)
                continue
            needed = sub.required_permission
            if not has_permission(slot.permissions, needed):
                denied.append(
                    {
                        "stream": sub.raw,
                        "requiredPermission": str(needed),
                        "message": f"To subscribe to {sub.raw}, add the {needed} permission "
                        "to the App (glasscloud apps create ... --permission "
                        f"{needed}).",
                    }
                )
                continue
            if refusal := next((r for p in self.parts if (r := p.refuse(slot, sub))), None):
                malformed.append(refusal)
                continue
            accepted.append(sub)
        if malformed:
            self.ctx.app_error(slot, _rejected_entries(malformed))
        if denied and slot.conn is not None:
            self.ctx.metrics.inc("permission_denials", len(denied))
            slot.conn.send_text(app_wire.permission_error(denied, self.ctx.timestamp()))
        if self.subscriptions.replace(slot.package_name, accepted):
            self.changed(broadcast=True)

    def remove(self, package_name: str) -> None:
        """The App is no longer running: it receives nothing until it subscribes again, and
        what it asked of the glasses ends."""
        self.requests.drop_app(package_name)
        for part in self.parts:
            part.app_removed(package_name)
        if self.subscriptions.remove(package_name):
            self.changed(broadcast=False)

    def changed(self, broadcast: bool) -> None:
        """After any change of who subscribes to what: the session settles the microphone
        (and tells the glasses, when asked); the recogniser hears which languages are
        wanted."""
        self._on_change(broadcast)
        wanted = {k for k in self.subscriptions.media_keys() if k.startswith("transcription:")}
        for part in self.parts:
            part.subscriptions_changed()
            wanted |= part.wanted_languages()
        if wanted != self._wanted_languages:
            self._wanted_languages = wanted
            self.transcription.languages_changed(set(wanted))

    # ---- what the microphone must deliver --------------------------------------------

    def requires_audio(self) -> bool:
        if self.subscriptions.media_keys():
            return True
        return any(
            has_permission(slot.permissions, MICROPHONE)
            for p in self.subscriptions.wildcard_apps
            if (slot := self.slots.get(p)) is not None
        )

    def is_transcribing(self) -> bool:
        return any(k.startswith("transcription:") for k in self.subscriptions.media_keys())

    def required_data(self) -> list[str]:
        keys = self.subscriptions.media_keys()
        data = []
        if "audio_chunk" in keys:
            data.append("pcm")
        if any(k != "audio_chunk" for k in keys):
            data.append("transcription")
        return data

    def dispose(self) -> None:
        self.requests.drop_all("session_ended")
        for part in self.parts:
            part.dispose()
        self.subscriptions.clear()
        self.transcription.dispose()


def _rejected_entries(errors: list[ProtocolError]) -> ProtocolError:
    """One error for every malformed entry of one update: the first few by name."""
    listed = "; ".join(f"{e.field}: {e.message}" for e in errors[:LISTED_REJECTIONS])
    more = len(errors) - LISTED_REJECTIONS
    suffix = f"; and {more} more" if more > 0 else ""
    first = errors[0]
    if len(errors) == 1:
        return first
    return ProtocolError(
        first.code,
        f"{len(errors)} subscription entries were rejected: {listed}{suffix}.",
        "subscriptions",
    )
