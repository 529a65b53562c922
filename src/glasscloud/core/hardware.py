"""What Apps ask of the glasses' hardware (a photo, a sound, the LED, Wi-Fi setup), and the
glasses' answers. One object per session; `AppMessages` hands it the App's requests and the
session hands it the glasses' answers.

Rules, in order:
- a request is checked (fields, then permission) before anything reaches the glasses; a
  refusal is an error frame naming the field or permission, and where the SDK waits on a
  promise, also the answer that settles it (a `photo_error` upload, an unsuccessful
  `audio_play_response`), so nothing hangs;
- requests that wait for an answer go through `core.requests`: the answer reaches the App
  that asked and no one else; no answer in time, the App stopping or the glasses going away
  end the request with that reason (our timeouts are shorter than the SDK's own);
- the shell carries out what leaves the core besides frames (the `photo_error` POST) and
  says how the TTS URL of `speak()` becomes this server's (`HardwareServices`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.audio_out import AudioOut
from glasscloud.core.camera import Camera
from glasscloud.core.context import SessionContext
from glasscloud.core.requests import PendingRequests
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage
from glasscloud.protocol.hardware import APP_HARDWARE_MESSAGES, validate_hardware


def _no_photo_errors(url: str, fields: dict[str, str]) -> None:
    return None


def _keep_url(url: str, user_id: str, package_name: str) -> str:
    return url


@dataclass
class HardwareServices:
    """What the hardware rules need from the shell, shared by all sessions.

    `post_photo_error(url, fields)`: POST the `photo_error` form fields to the App's upload
    route (fire and forget). `audio_url(url, user, package)`: the URL to give the phone for
    an App's `audioUrl` (the shell turns the SDK's `https://{host}/api/tts?...` into this
    server's own TTS route; other URLs pass unchanged). Timeouts are below the SDK's (photo
    30 s, audio 60 s), so the App hears our reason rather than its own timeout."""

    post_photo_error: Callable[[str, dict[str, str]], None] = _no_photo_errors
    audio_url: Callable[[str, str, str], str] = _keep_url
    photo_timeout: float = 25.0
    audio_timeout: float = 55.0
    led_timeout: float = 5.0


END_REASONS = {
    "timeout": (ErrorCode.REQUEST_TIMEOUT, "the glasses did not answer within {timeout:g} s"),
    "glasses_gone": (ErrorCode.GLASSES_NOT_CONNECTED, "the glasses disconnected"),
    "session_ended": (ErrorCode.GLASSES_NOT_CONNECTED, "the user's session ended"),
    "app_stopped": (ErrorCode.APP_NOT_RUNNING, "the App stopped"),
}


class Hardware:
    def __init__(
        self,
        ctx: SessionContext,
        slots: dict[str, AppSlot],
        requests: PendingRequests,
        glasses_attached: Callable[[], bool],
    ) -> None:
        self.ctx = ctx
        self.slots = slots
        self.requests = requests
        self.glasses_attached = glasses_attached
        self.services: HardwareServices = getattr(ctx.services, "hardware", None) or (
            HardwareServices()
        )
        self.camera = Camera(self)
        self.audio = AudioOut(self)

    # ---- App -> glasses ---------------------------------------------------------------

    def app_message(self, slot: AppSlot, kind: str, obj: dict[str, Any]) -> ProtocolError | None:
        """One hardware request from a bound App; an error to send it, or None."""
        assert kind in APP_HARDWARE_MESSAGES
        try:
            validate_hardware(kind, obj)
        except ProtocolError as error:
            self.refused(slot, kind, obj, error)
            return error
        if kind == "photo_request":
            return self.camera.request(slot, obj)
        return self.audio.app_message(slot, kind, obj)

    def refused(self, slot: AppSlot, kind: str, obj: dict[str, Any], error: ProtocolError) -> None:
        """Settle the promise the SDK holds for a refused request (the error frame is sent
        by the caller)."""
        self.ctx.metrics.inc("hardware_refusals", type=kind, code=error.code.value)
        request_id = obj.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            return
        if kind == "photo_request":
            self.camera.report_error(slot, request_id, error.code.value, error.message)
        elif kind == "audio_play_request" and obj.get("stopOtherAudio", True) is not False:
            self.audio.answer_failure(slot, request_id, error.message)

    def no_glasses(self, kind: str) -> ProtocolError | None:
        if self.glasses_attached():
            return None
        return ProtocolError(
            ErrorCode.GLASSES_NOT_CONNECTED,
            f"The user's glasses are not connected; the {kind} was not sent.",
            "type",
        )

    def send_to_glasses(self, text: str) -> None:
        self.ctx.send_to_glasses(text)

    # ---- glasses -> App ---------------------------------------------------------------

    def glasses_message(self, msg: GlassesMessage) -> bool:
        """A glasses answer to a hardware request; True if handled here (False: let the
        router route it, as it does `photo_response`)."""
        kind = msg.type
        if kind == "photo_response":
            self.camera.response(msg)
            return False  # the router delivers it to the asker (core.requests)
        if kind == "photo_taken":
            self.camera.photo_taken(msg)
            return True
        if kind in ("audio_play_response", "rgb_led_control_response"):
            self.audio.response(msg)
            return True
        return False

    def live_slot(self, package_name: str) -> AppSlot | None:
        slot = self.slots.get(package_name)
        return slot if slot is not None and slot.live else None

    def end_reason(self, reason: str, timeout: float) -> tuple[ErrorCode, str]:
        code, text = END_REASONS.get(reason, (ErrorCode.INTERNAL_ERROR, reason))
        return code, text.format(timeout=timeout)
