"""Camera streaming, for one session: an App streams the glasses' camera to its own RTMP
server (unmanaged streaming).

Rules, in order:
- `rtmp_stream_request` needs CAMERA and connected glasses; the glasses stream to one place
  at a time, so while one App holds the stream another App's request is refused with
  STREAM_BUSY naming the holder (the reference cloud silently stopped the holder's stream
  instead), and the holder's own second request is refused the same way;
- an accepted request is relayed as `start_rtmp_stream` with the App's `rtmpUrl` and a new
  `streamId`; the App hears `initializing` at once;
- the glasses' `rtmp_stream_status` goes to the App that started the stream and to no one
  else, as the top-level frame the SDK reads; a status that ends the stream (`stopped`,
  `error`, `timeout`, ...) frees it;
- while the stream runs the glasses get `keep_rtmp_stream_alive` every
  `rtmp_keepalive_interval` s, each with an `ackId` they answer with `keep_alive_ack`; after
  `rtmp_max_missed_acks` keep-alives in a row go unanswered (the reference: 3 misses and
  60 s without activity) the stream is stopped and the App hears `timeout`;
- `rtmp_stream_stop` from the holder is relayed as `stop_rtmp_stream` and frees the stream
  at once (the App hears `stopped`); from another App it is refused naming the holder;
- the stream stops when its App stops (the glasses are told) and when the glasses go away
  (the App hears `stopped` with the reason);
- every refusal of a request is an error frame naming it (the SDK's `error` event) plus an
  `rtmp_stream_status` `error`, so the SDK's camera module stops believing it streams (its
  `startStream` resolves before any answer, and it refuses a new start while it believes so);
- managed streaming (HLS/DASH for viewers) needs a media server glasscloud does not have: its
  request is answered with a `managed_stream_status` `error` (which rejects the SDK's
  `startManagedStream` with that message) and an error frame.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.clock import TimerHandle
from glasscloud.core.context import SessionContext
from glasscloud.core.parts import SessionPart
from glasscloud.protocol import streaming as wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage
from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.protocol.streams import CAMERA, has_permission

if TYPE_CHECKING:
    from glasscloud.core.router import Router

MANAGED_UNAVAILABLE = (
    "managed streaming needs a media server that receives the glasses' RTMP and serves "
    "HLS/DASH to viewers, and this glasscloud has none configured (none is supported yet: "
    "see README, Camera streaming); stream to your own RTMP server with "
    "camera.startStream({ rtmpUrl }) instead"
)


@dataclass(eq=False)
class Stream:
    package_name: str
    stream_id: str
    options: dict[str, Any]
    created_at: float
    status: str = "initializing"
    ack_waiting: str | None = None
    missed: int = 0
    timer: TimerHandle | None = field(default=None, repr=False)


class RtmpStreams(SessionPart):
    def __init__(
        self, ctx: SessionContext, router: Router, glasses_connected: Callable[[], bool]
    ) -> None:
        self.ctx = ctx
        self.router = router
        self.glasses_connected = glasses_connected
        self.stream: Stream | None = None
        self._acks = 0
        self.glasses_handlers = {"rtmp_stream_status": self.glasses_status}
        self.app_handlers = {
            "rtmp_stream_request": self.request,
            "rtmp_stream_stop": self.stop,
            "stream_status_check": self.check,
            "managed_stream_request": self.managed_request,
            "managed_stream_stop": self.managed_stop,
        }

    # ---- App -> cloud ------------------------------------------------------------------

    def request(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        try:
            options = wire.validate_request(obj)
            self._admit(slot)
        except ProtocolError as error:
            self._status(slot, None, "error", error.message)
            return error
        stream = Stream(slot.package_name, str(uuid.uuid4()), options, self.ctx.clock.wall())
        self.stream = stream
        ts = self.ctx.timestamp()
        self.ctx.send_to_glasses(
            wire.start_rtmp_stream(
                self.ctx.user_id, slot.package_name, stream.stream_id, options, ts
            )
        )
        self._status(slot, stream.stream_id, "initializing")
        self._schedule(stream)
        self.ctx.metrics.inc("rtmp_streams_started")
        return None

    def _admit(self, slot: AppSlot) -> None:
        what = "rtmp_stream_request"
        if not has_permission(slot.permissions, CAMERA):
            self.ctx.metrics.inc("permission_denials")
            raise ProtocolError(
                ErrorCode.PERMISSION_DENIED,
                f"{what}: camera.startStream needs the CAMERA permission; add it to the App "
                "(glasscloud apps create ... --permission CAMERA).",
            )
        if self.stream is not None:
            holder = self.stream.package_name
            who = "this App already streams" if holder == slot.package_name else f"{holder} streams"
            raise ProtocolError(
                ErrorCode.STREAM_BUSY,
                f"{what}: the glasses stream to one place at a time and {who} "
                f"(stream {self.stream.stream_id}); it must stop first.",
                "rtmpUrl",
            )
        if not self.glasses_connected():
            raise ProtocolError(
                ErrorCode.GLASSES_NOT_CONNECTED,
                f"{what}: the user's glasses are not connected, so they cannot stream.",
                "rtmpUrl",
            )

    def stop(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        stream_id = wire.validate_stop(obj)
        stream = self.stream
        if stream is None or stream.package_name != slot.package_name:
            if stream is None:
                return None  # nothing streams: stopping is already done
            return ProtocolError(
                ErrorCode.STREAM_BUSY,
                f"rtmp_stream_stop: the stream belongs to {stream.package_name}; an App can "
                "stop only its own stream.",
                "streamId",
            )
        if stream_id is not None and stream_id != stream.stream_id:
            return ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"rtmp_stream_stop: no stream {stream_id!r}; this App's stream is "
                f"{stream.stream_id}.",
                "streamId",
            )
        self._end("stopped")
        return None

    def check(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        if not has_permission(slot.permissions, CAMERA):
            return ProtocolError(
                ErrorCode.PERMISSION_DENIED,
                "stream_status_check needs the CAMERA permission; add it to the App.",
            )
        info = None
        if (stream := self.stream) is not None:
            info = {
                "type": "unmanaged",
                "streamId": stream.stream_id,
                "status": stream.status,
                "createdAt": iso_timestamp(stream.created_at),
                "requestingAppId": stream.package_name,
            }
            if stream.package_name == slot.package_name:  # the URL may carry a stream key
                info["rtmpUrl"] = stream.options["rtmpUrl"]
        slot.conn.send_text(wire.stream_status_check_response(info, self.ctx.timestamp()))  # type: ignore[union-attr]
        return None

    def managed_request(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        message = f"managed_stream_request: {MANAGED_UNAVAILABLE}."
        slot.conn.send_text(wire.managed_stream_status("error", message, self.ctx.timestamp()))  # type: ignore[union-attr]
        return ProtocolError(ErrorCode.MANAGED_STREAMING_UNAVAILABLE, message)

    def managed_stop(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        slot.conn.send_text(  # type: ignore[union-attr]
            wire.managed_stream_status("stopped", "no managed stream runs", self.ctx.timestamp())
        )
        return None

    # ---- glasses -> cloud --------------------------------------------------------------

    def glasses_status(self, msg: GlassesMessage) -> None:
        obj = msg.obj
        stream = self.stream
        if stream is None or obj.get("streamId") not in (None, "", stream.stream_id):
            self.ctx.metrics.inc("rtmp_status_unmatched")
            return
        stream.status = obj["status"]
        stream.missed = 0
        slot = self.router.slots.get(stream.package_name)
        if slot is not None:
            self._status(
                slot, stream.stream_id, obj["status"], obj.get("errorDetails"), obj.get("stats")
            )
        if obj["status"] in wire.ENDED:
            self._forget(stream)

    def keep_alive_ack(self, obj: dict[str, Any]) -> None:
        stream = self.stream
        if stream is not None and obj.get("ackId") == stream.ack_waiting:
            stream.ack_waiting = None
            stream.missed = 0

    # ---- the stream's end --------------------------------------------------------------

    def app_removed(self, package_name: str) -> None:
        if self.stream is not None and self.stream.package_name == package_name:
            self._end(None)  # the App is gone: nobody to tell but the glasses

    def glasses_gone(self) -> None:
        if self.stream is not None:
            self._end("stopped", "the glasses disconnected", tell_glasses=False)

    def dispose(self) -> None:
        if self.stream is not None:
            self._forget(self.stream)

    def _end(
        self, status: str | None, details: str | None = None, tell_glasses: bool = True
    ) -> None:
        stream = self.stream
        assert stream is not None
        self._forget(stream)
        if tell_glasses:
            self.ctx.send_to_glasses(
                wire.stop_rtmp_stream(
                    self.ctx.user_id, stream.package_name, stream.stream_id, self.ctx.timestamp()
                )
            )
        slot = self.router.slots.get(stream.package_name)
        if status is not None and slot is not None:
            self._status(slot, stream.stream_id, status, details)

    def _forget(self, stream: Stream) -> None:
        if stream.timer is not None:
            stream.timer.cancel()
            stream.timer = None
        if self.stream is stream:
            self.stream = None

    def _schedule(self, stream: Stream) -> None:
        stream.timer = self.ctx.clock.call_later(
            self.ctx.timings.rtmp_keepalive_interval, lambda: self._keep_alive(stream)
        )

    def _keep_alive(self, stream: Stream) -> None:
        stream.timer = None
        if self.stream is not stream:
            return
        if stream.ack_waiting is not None:
            stream.missed += 1
            if stream.missed >= self.ctx.timings.rtmp_max_missed_acks:
                self.ctx.metrics.inc("rtmp_streams_timed_out")
                self._end("timeout", f"the glasses answered none of {stream.missed} keep-alives")
                return
        self._acks += 1
        stream.ack_waiting = f"a{self._acks}"
        self.ctx.send_to_glasses(
            wire.keep_rtmp_stream_alive(
                self.ctx.user_id, stream.stream_id, stream.ack_waiting, self.ctx.timestamp()
            )
        )
        self._schedule(stream)

    def _status(
        self,
        slot: AppSlot,
        stream_id: str | None,
        status: str,
        details: str | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        if slot.live:
            slot.conn.send_text(  # type: ignore[union-attr]
                wire.rtmp_stream_status(
                    slot.app_session_id,
                    slot.package_name,
                    stream_id,
                    status,
                    self.ctx.timestamp(),
                    details,
                    stats,
                )
            )
