"""Sound out, the LED and Wi-Fi setup: App requests the phone carries out.

- `audio_play_request` goes to the phone with the App's `audioUrl`, except that the SDK's
  `speak()` URL (`https://{host}/api/tts?...`, built from the WebSocket URL) becomes this
  server's own `/api/tts` (`HardwareServices.audio_url`). With `stopOtherAudio` (the SDK's
  default) the SDK waits up to 60 s for `audio_play_response`: the phone's answer goes to
  the App that asked only, and without one in `audio_timeout` (55 s), or when the glasses
  go away, the App gets `audio_play_response` `success: false` with the reason. With
  `stopOtherAudio: false` the SDK resolves at once; the phone's answer still goes only to
  the asker.
- `audio_stop_request` goes to the phone as the App (`appId`), `trackId` kept.
- `rgb_led_control` goes to the glasses; `rgb_led_control_response` back to the asker only
  (the SDK ignores it: LED control is fire-and-forget there). No permission is needed, as in
  the reference cloud.
- `request_wifi_setup` becomes `show_wifi_setup` for the phone.
Without glasses, each is refused with `GLASSES_NOT_CONNECTED` (and the audio promise is
settled), never dropped in silence.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.requests import Pending
from glasscloud.protocol import hardware as wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage
from glasscloud.protocol.jsonio import encode

if TYPE_CHECKING:
    from glasscloud.core.hardware import Hardware

AUDIO = "audio"
LED = "led"
# Answers nobody waits for (LED, sounds with stopOtherAudio false) tracked per App and kind:
# more are sent untracked, so blinking or many sounds never use up the App's share of
# waiting requests (core.requests.MAX_PENDING_PER_APP) for photos and awaited sounds.
MAX_TRACKED_LED = 4
_led_ids = itertools.count(1)


class AudioOut:
    def __init__(self, hw: Hardware) -> None:
        self.hw = hw
        self.ctx = hw.ctx

    def app_message(self, slot: AppSlot, kind: str, obj: dict[str, Any]) -> ProtocolError | None:
        if kind == "audio_play_request":
            return self.play(slot, obj)
        missing = self.hw.no_glasses(kind)
        if missing is not None:
            return missing
        ts = self.ctx.timestamp()
        user = self.ctx.user_id
        if kind == "audio_stop_request":
            self.hw.send_to_glasses(
                wire.glasses_audio_stop_request(user, slot.package_name, obj.get("trackId"), ts)
            )
        elif kind == "rgb_led_control":
            return self.led(slot, obj)
        elif kind == "request_wifi_setup":
            self.hw.send_to_glasses(wire.show_wifi_setup(slot.package_name, obj.get("reason"), ts))
        self.ctx.metrics.inc("hardware_requests", type=kind)
        return None

    # ---- audio ------------------------------------------------------------------------

    def play(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        request_id = obj["requestId"]
        waits = obj.get("stopOtherAudio", True) is not False
        missing = self.hw.no_glasses(f"audio_play_request {request_id!r}")
        if missing is not None:
            if waits:
                self.answer_failure(slot, request_id, missing.message)
            return missing
        unwaited = [
            p
            for p in self.hw.requests.waiting(slot.package_name)
            if p.kind == AUDIO and not p.data.get("waits")
        ]
        try:
            if not waits and len(unwaited) >= MAX_TRACKED_LED:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "answers tracked", "requestId")
            self.hw.requests.add(
                request_id,
                slot.package_name,
                AUDIO,
                self.hw.services.audio_timeout,
                self._ended,
                {"waits": waits},
            )
        except ProtocolError as error:
            if waits or error.code is not ErrorCode.RATE_LIMITED:
                if waits:
                    self.answer_failure(slot, request_id, error.message)
                return error
            # Nobody waits for this answer: play it untracked rather than refuse it.
        url = self.hw.services.audio_url(obj["audioUrl"], self.ctx.user_id, slot.package_name)
        self.hw.send_to_glasses(
            wire.glasses_audio_play_request(
                self.ctx.user_id, obj, slot.package_name, url, self.ctx.timestamp()
            )
        )
        self.ctx.metrics.inc("hardware_requests", type="audio_play_request")
        return None

    def answer_failure(self, slot: AppSlot, request_id: str, message: str) -> None:
        """Settle the SDK's `playAudio()`/`speak()` promise with `success: false`."""
        if slot.live:
            slot.conn.send_text(  # type: ignore[union-attr]
                wire.audio_play_response(request_id, False, self.ctx.timestamp(), message)
            )

    def _ended(self, pending: Pending, reason: str) -> None:
        slot = self.hw.live_slot(pending.package_name)
        if slot is None or not pending.data.get("waits"):
            return
        _code, why = self.hw.end_reason(reason, self.hw.services.audio_timeout)
        self.ctx.metrics.inc("audio_play_failures", reason=reason)
        self.answer_failure(slot, pending.request_id, f"audio_play_request: {why}.")

    # ---- LED --------------------------------------------------------------------------

    def led(self, slot: AppSlot, obj: dict[str, Any]) -> ProtocolError | None:
        request_id = obj.get("requestId") or f"led_{next(_led_ids)}"
        tracked = [p for p in self.hw.requests.waiting(slot.package_name) if p.kind == LED]
        try:
            if len(tracked) >= MAX_TRACKED_LED:
                raise ProtocolError(ErrorCode.RATE_LIMITED, "LED answers tracked", "requestId")
            self.hw.requests.add(
                request_id, slot.package_name, LED, self.hw.services.led_timeout, _ignore
            )
        except ProtocolError as error:
            if error.code is not ErrorCode.RATE_LIMITED:
                return error
            # The SDK does not wait for the LED's answer: send it untracked (many quick
            # blinks must not use up the App's waiting photos and sounds).
        self.hw.send_to_glasses(
            wire.glasses_led_control(
                self.ctx.user_id, obj, slot.package_name, request_id, self.ctx.timestamp()
            )
        )
        self.ctx.metrics.inc("hardware_requests", type="rgb_led_control")
        return None

    # ---- answers ----------------------------------------------------------------------

    def response(self, msg: GlassesMessage) -> None:
        """`audio_play_response` / `rgb_led_control_response`: to the asker only, as the
        top-level frame the SDK matches by `type`."""
        kinds = frozenset({AUDIO}) if msg.type == "audio_play_response" else frozenset({LED})
        pending = self.hw.requests.resolve(msg.obj.get("requestId"), kinds)
        slot = self.hw.live_slot(pending.package_name) if pending is not None else None
        if slot is None:
            self.ctx.metrics.inc("glasses_responses_unrequested", type=msg.type)
            return
        if msg.type == "audio_play_response":
            obj = msg.obj
            text = wire.audio_play_response(
                pending.request_id,  # type: ignore[union-attr]
                obj.get("success") is True,
                self.ctx.timestamp(),
                obj.get("error") if isinstance(obj.get("error"), str) else None,
                obj.get("duration") if isinstance(obj.get("duration"), int | float) else None,
            )
        else:
            text = encode({**msg.obj, "type": "rgb_led_control_response"})
        slot.conn.send_text(text)  # type: ignore[union-attr]
        self.ctx.metrics.inc("app_deliveries")


def _ignore(pending: Pending, reason: str) -> None:
    """An unanswered LED command needs no answer: the SDK does not wait for one."""
