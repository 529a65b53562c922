"""Photos: an App's `photo_request` to the glasses, and what becomes of it.

The photo itself never passes through glasscloud: the glasses upload it (multipart, field
`requestId`, file `photo`) straight to the App's `{publicUrl}/photo-upload`, where
`@mentra/sdk` 2.1.29 resolves `requestPhoto()`; a `photo_response` on the App's socket is
only logged by the SDK. So every way a photo can fail to come ends with a `photo_error`
POST to that same route, which rejects the promise with our code and sentence:
- the App lacks `CAMERA` (nothing reaches the glasses; an error frame names the permission;
  the reference cloud also closes the socket with 1008, we keep it open);
- the phone reported glasses without a camera (`HARDWARE_MISSING`, nothing sent);
- no glasses are connected, or they disconnect before answering;
- the glasses answer `photo_response` with `success: false` (no camera, camera busy...):
  their code and message are passed on;
- no answer within `photo_timeout` (25 s, under the SDK's 30 s);
- the App stops (no POST: its promise dies with its session).
`photo_response` and `photo_taken` go only to the App that asked (never to a wildcard).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.defaults import DEFAULT_CAPABILITIES
from glasscloud.core.requests import Pending
from glasscloud.protocol import app as app_wire
from glasscloud.protocol import hardware as wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage
from glasscloud.protocol.streams import CAMERA, has_permission

if TYPE_CHECKING:
    from glasscloud.core.hardware import Hardware

KIND = "photo"
# Photos answered recently (request id -> App), so a `photo_taken` after the response
# still finds its App.
RECENT = 32


class Camera:
    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        self.ctx = hw.ctx
        self._recent: deque[tuple[str, str]] = deque(maxlen=RECENT)

    def upload_url(self, slot: AppSlot) -> str:
        return slot.record.public_url.rstrip("/") + "/photo-upload"

    def request(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        request_id = obj["requestId"]
        if not has_permission(slot.permissions, CAMERA):
            error = ProtocolError(
                ErrorCode.PERMISSION_DENIED,
                f"photo_request {request_id!r} refused: {slot.package_name} lacks the CAMERA "
                "permission (glasscloud apps create ... --permission CAMERA); nothing was "
                "sent to the glasses.",
                "type",
            )
            self.ctx.metrics.inc("permission_denials")
            self.report_error(slot, request_id, error.code.value, error.message)
            return error
        caps = self.ctx.capabilities
        if caps is not DEFAULT_CAPABILITIES and caps.get("hasCamera") is False:
            # The phone named its glasses and that model has no camera (core.device_state);
            # before it does, the glasses answer for themselves.
            error = ProtocolError(
                ErrorCode.HARDWARE_MISSING,
                f"photo_request {request_id!r} refused: the user's glasses "
                f"({caps.get('modelName') or 'unknown model'}) have no camera.",
                "type",
            )
            self.report_error(slot, request_id, error.code.value, error.message)
            return error
        missing = self.hw.no_glasses(f"photo_request {request_id!r}")
        if missing is not None:
            self.report_error(slot, request_id, missing.code.value, missing.message)
            return missing
        upload = self.upload_url(slot)
        try:
            self.hw.requests.add(
                request_id,
                slot.package_name,
                KIND,
                self.hw.services.photo_timeout,
                self._ended,
                {"upload_url": upload},
            )
        except ProtocolError as error:
            self.report_error(slot, request_id, error.code.value, error.message)
            return error
        webhook = obj.get("customWebhookUrl") or upload
        self.hw.send_to_glasses(
            wire.glasses_photo_request(
                self.ctx.user_id, obj, slot.package_name, webhook, self.ctx.timestamp()
            )
        )
        self.ctx.metrics.inc("photo_requests")
        return None

    def report_error(self, slot: AppSlot, request_id: str, code: str, message: str) -> None:
        """Reject the SDK's `requestPhoto()` promise now (instead of its 30 s timeout)."""
        self.ctx.metrics.inc("photo_errors", code=code)
        self.hw.services.post_photo_error(
            self.upload_url(slot), wire.photo_error_fields(request_id, code, message)
        )

    def _ended(self, pending: Pending, reason: str) -> None:
        if reason == "app_stopped":
            return  # the SDK dropped its pending photos with the session
        code, why = self.hw.end_reason(reason, self.hw.services.photo_timeout)
        self.ctx.metrics.inc("photo_errors", code=code.value)
        self.hw.services.post_photo_error(
            pending.data["upload_url"],
            wire.photo_error_fields(
                pending.request_id,
                code.value,
                f"photo_request {pending.request_id!r}: {why}.",
            ),
        )

    def response(self, msg: GlassesMessage) -> None:
        """A `photo_response`: on failure the glasses' reason goes to the upload route; the
        router then delivers the response itself to the asker (`core.requests`)."""
        request_id = msg.obj.get("requestId")
        pending = self._waiting(request_id)
        if pending is None:
            return
        self._recent.append((pending.request_id, pending.package_name))
        failed = wire.photo_error_of(msg.obj)
        if failed is not None:
            code, message = failed
            self.ctx.metrics.inc("photo_errors", code=code)
            self.hw.services.post_photo_error(
                pending.data["upload_url"],
                wire.photo_error_fields(pending.request_id, code, message),
            )

    def photo_taken(self, msg: GlassesMessage) -> None:
        """`photo_taken` (the photo as data): to the App that asked for it, if it still
        runs and has CAMERA; with no `requestId`, to the App whose photo was asked last."""
        request_id = msg.obj.get("requestId")
        package = None
        pending = self._waiting(request_id)
        if pending is not None:
            package = pending.package_name
        else:
            for rid, pkg in reversed(self._recent):
                if request_id is None or rid == request_id:
                    package = pkg
                    break
        if package is None:
            for waiting in reversed(self.hw.requests.waiting()):
                if waiting.kind == KIND and request_id is None:
                    package = waiting.package_name
                    break
        slot = self.hw.live_slot(package) if package else None
        if slot is None or not has_permission(slot.permissions, CAMERA):
            self.ctx.metrics.inc("glasses_responses_unrequested", type=msg.type)
            return
        slot.conn.send_text(  # type: ignore[union-attr]
            app_wire.data_stream_frame(slot.prefix("photo_taken"), msg.text, self.ctx.timestamp())
        )

    def _waiting(self, request_id: object) -> Pending | None:
        if not isinstance(request_id, str):
            return None
        for pending in self.hw.requests.waiting():
            if pending.request_id == request_id and pending.kind == KIND:
                return pending
        return None
