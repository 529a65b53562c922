"""One user's live session: the glasses attachment, message dispatch, the `userSession`
snapshot and the end of the session; sans-I/O. Its parts share one `SessionContext`: the
`Router` (who receives what: the hot path), the `AppLifecycle` (start, stop, lose, restart,
resume), `AppMessages`, the display manager and the smaller parts built below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glasscloud.core.app_messages import AppMessages
from glasscloud.core.app_settings import tell_app
from glasscloud.core.apps import AppSlot
from glasscloud.core.clock import TimerHandle
from glasscloud.core.context import SessionContext, SessionServices
from glasscloud.core.defaults import DEFAULT_CAPABILITIES, DEFAULT_SYSTEM_SETTINGS
from glasscloud.core.device_state import DEVICE_MESSAGES, DeviceReports
from glasscloud.core.display import DisplayContext
from glasscloud.core.lifecycle import AppLifecycle
from glasscloud.core.microphone import MicrophoneControl
from glasscloud.core.ports import Connection, StartResult
from glasscloud.core.records import AppRecord
from glasscloud.core.resume_state import ResumeStateWriter
from glasscloud.core.router import Router
from glasscloud.core.stream_parts import StreamParts
from glasscloud.protocol import glasses as glasses_wire
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import CONTROL_TYPES, GlassesMessage
from glasscloud.protocol.hardware import GLASSES_HARDWARE_ANSWERS


class UserSession:
    def __init__(
        self,
        user_id: str,
        services: SessionServices,
        system_settings: dict[str, Any] | None = None,
        on_disposed: Callable[[UserSession], None] | None = None,
        resumable: bool = True,
    ) -> None:
        self.user_id = user_id
        self.services = services
        self.system_settings = {**DEFAULT_SYSTEM_SETTINGS, **(system_settings or {})}
        self.glasses: Connection | None = None
        self.disposed = False
        self._on_disposed = on_disposed
        self._grace_timer: TimerHandle | None = None
        self.ctx = SessionContext(
            user_id,
            services,
            self._to_glasses,
            self._broadcast_state,
            self.system_settings,
            DEFAULT_CAPABILITIES,
            resumable,
        )
        self.log = self.ctx.log
        self.start_time = self.ctx.start_time
        slots: dict[str, AppSlot] = {}  # the lifecycle changes them; the router reads them
        self.router = Router(self.ctx, slots, self._subscriptions_changed)
        self.display = services.display_factory(
            DisplayContext(
                self.services.clock,
                self.services.timings,
                self._to_glasses,
                lambda p: self.lifecycle.is_running(p),
                self.ctx.timestamp,
                lambda p: self.lifecycle.app_type(p),
                user_id=user_id,
                send_to_app=self._to_app,
                on_change=lambda: self.resume_state.changed(),
            )
        )
        self.lifecycle = AppLifecycle(self.ctx, slots, self.router, self.display)
        self.app_messages = AppMessages(self.ctx, self.lifecycle, self.router, self.display)
        self._mic = MicrophoneControl(self.ctx, self.router, self.lifecycle)
        self.streams = StreamParts(self.ctx, self.router, self.app_messages)
        self.streams.glasses_connected = lambda: self.glasses is not None
        self.subscriptions = self.router.subscriptions
        self.apps = self.lifecycle.slots
        self.device = DeviceReports(self.ctx, slots)
        self.resume_state = ResumeStateWriter(
            self.ctx, self.display.saved_state, self.subscriptions.as_map
        )

    # ---- what the parts share --------------------------------------------------------

    def _to_glasses(self, text: str) -> None:
        if self.ctx.mirror is not None:  # an operator watches (core/mirror.py)
            self.ctx.mirror.glasses_frame(text)
        if self.glasses is None:
            self.services.metrics.inc("glasses_sends_dropped", reason="disconnected")
            return
        self.glasses.send_text(text)

    def _to_app(self, package_name: str, text: str) -> None:
        slot = self.apps.get(package_name)
        if slot is not None and slot.live:
            slot.conn.send_text(text)  # type: ignore[union-attr]

    def app_state(self, package_name: str) -> str | None:
        return self.lifecycle.state_of(package_name)

    def snapshot(self) -> dict[str, Any]:
        """The `userSession` object of `connection_ack` and `app_state_change`."""
        return glasses_wire.user_session(
            self.user_id,
            self.start_time,
            self.lifecycle.active(),
            self.lifecycle.loading(),
            self.subscriptions.as_map(),
            self.router.requires_audio(),
            self.subscriptions.language_streams(),
            self.router.is_transcribing(),
        )

    def _broadcast_state(self, change: dict[str, Any] | None = None) -> None:
        self._to_glasses(
            glasses_wire.app_state_change(
                self.user_id, self.snapshot(), self.ctx.timestamp(), change
            )
        )

    def save_resume_state(self) -> None:  # the shell, at shutdown and hand-over
        self.resume_state.save()

    # ---- glasses ---------------------------------------------------------------------

    def attach_glasses(self, conn: Connection) -> None:
        """A glasses socket authenticated: it becomes current, and gets exactly one
        `connection_ack` at once (Apps that are still starting are reported later through
        `app_state_change`)."""
        previous = self.glasses
        self.glasses = conn
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        if previous is not None and previous is not conn:
            previous.send_text(
                glasses_wire.connection_error(
                    ErrorCode.SESSION_REPLACED,
                    "A newer connection for this user took over this session.",
                    self.ctx.timestamp(),
                )
            )
            previous.close(CloseCode.NORMAL, "Replaced by a newer connection")
        conn.send_text(
            glasses_wire.connection_ack(self.user_id, self.snapshot(), self.ctx.timestamp())
        )
        self._mic.glasses_attached()
        self.streams.glasses_attached()
        self.lifecycle.on_glasses_attached()
        self.display.glasses_connected()

    def glasses_closed(self, conn: Connection) -> None:
        """Only the current socket's close counts: a late close of a replaced socket never
        touches the live session."""
        if conn is not self.glasses or self.disposed:
            return
        self.glasses = None
        self.lifecycle.on_glasses_detached()
        self.router.transcription.glasses_disconnected()
        self.router.requests.drop_all("glasses_gone")  # no answer can come now
        self.streams.glasses_gone()
        self.log.info(
            "glasses disconnected; grace period %.0f s", self.services.timings.glasses_grace
        )
        self._await_glasses()

    def restore(self, records: list[AppRecord], saved: dict[str, Any]) -> None:
        """A new session brings back the Apps the user ran (after a restart, or after the
        glasses were away past the grace period); see `AppLifecycle.restore`. A session that
        an App reopened waits one grace period for the glasses, then ends like any other."""
        self.lifecycle.restore(records, saved)  # seeds what the store holds: no rewrite
        self.resume_state.remember(saved)
        if self.glasses is None:
            self._await_glasses()

    def _await_glasses(self) -> None:
        if self._grace_timer is None and not self.disposed:
            self._grace_timer = self.services.clock.call_later(
                self.services.timings.glasses_grace, self._grace_expired
            )

    def _grace_expired(self) -> None:
        self._grace_timer = None
        if self.glasses is None and not self.disposed:
            self.log.info("glasses did not come back within the grace period; ending session")
            self.dispose()

    def handle_glasses_message(self, msg: GlassesMessage) -> None:
        kind = msg.type
        if kind in DEVICE_MESSAGES:
            self.device.report(kind, msg.obj)
        if kind in GLASSES_HARDWARE_ANSWERS and self.app_messages.hardware.glasses_message(msg):
            return
        if kind not in CONTROL_TYPES or kind in self.router.glasses_handlers:
            if kind == "head_position":
                self.display.head_position(msg.obj["position"])
            elif kind == "calendar_event":
                self.app_messages.calendar.event(msg)
            self.router.route_glasses_event(msg)
        elif kind == "local_transcription":
            self.router.phone_transcription(msg.obj)
        elif kind == "stop_app":
            self.stop_app(msg.obj["packageName"], "user_disabled")
        elif kind == "request_settings":
            self._to_glasses(
                glasses_wire.settings_update(
                    self.system_settings, self.ctx.timestamp(), self.user_id
                )
            )
        elif kind == "settings_update_request":
            self._to_glasses(
                glasses_wire.settings_update(self.system_settings, self.ctx.timestamp())
            )
        # start_app: the shell looks the record up and calls start_app(); the rest: nothing.

    def handle_glasses_audio(self, data: bytes) -> None:
        self.router.relay_audio(data)

    # ---- Apps ------------------------------------------------------------------------

    def start_app(
        self, record: AppRecord, on_result: Callable[[StartResult], None] | None = None
    ) -> None:
        self.lifecycle.start(record, on_result)

    def stop_app(
        self,
        package_name: str,
        reason: str = "user_disabled",
        on_done: Callable[[bool], None] | None = None,
    ) -> bool:
        return self.lifecycle.stop(package_name, reason, on_done)

    def restart_app(self, package_name: str, only_if_lost: bool = False) -> bool:
        """A fresh `session_request` (core/app_recovery.py); `only_if_lost`: unless it runs."""
        recovery = self.lifecycle.recovery
        return recovery.ask_again(package_name) if only_if_lost else recovery.restart(package_name)

    def app_settings_changed(self, package_name: str, settings: list[dict[str, Any]]) -> bool:
        """The user's settings for an App changed: see `app_settings.tell_app`."""
        return tell_app(self.apps.get(package_name), settings, self.ctx.timestamp())

    def bind_app(
        self, record: AppRecord, conn: Connection, stored_settings: dict[str, Any]
    ) -> ProtocolError | None:
        error = self.lifecycle.bind(record, conn, stored_settings)
        if error is None:
            self.device.app_bound(record.package_name, conn)
        return error

    def app_closed(self, conn: Connection, code: int | None, reason: str = "") -> None:
        self.lifecycle.closed(conn, code)

    def handle_app_text(self, conn: Connection, text: str) -> None:
        self.app_messages.text(conn, text)

    def handle_app_binary(self, conn: Connection) -> None:
        self.app_messages.binary(conn)

    # ---- subscriptions -------------------------------------------------------------

    def _subscriptions_changed(self, broadcast: bool) -> None:
        """Tell the glasses (when asked); the microphone state settles, then is recomputed."""
        if broadcast:
            self._broadcast_state()
        if not self.disposed:
            self._mic.subscriptions_changed()
            self.resume_state.changed()

    # ---- end -------------------------------------------------------------------------

    def dispose(self, moved: CloseCode | None = None) -> None:
        """End the session (`AppLifecycle.dispose`), or, `moved` (the glasses' close code):
        let go of it, another node took the user over (`AppLifecycle.let_go`)."""
        if self.disposed:
            return
        self.resume_state.close()
        self.disposed = True
        if self._grace_timer is not None:
            self._grace_timer.cancel()
        self._mic.cancel()
        self.display.dispose()
        self.lifecycle.let_go() if moved else self.lifecycle.dispose()
        self.router.dispose()
        why = "Session moved" if moved else "Session ended"
        if self.glasses is not None:
            self.glasses.close(moved or CloseCode.NORMAL, why)
            self.glasses = None
        self.log.info(why.lower())
        if self._on_disposed is not None:
            self._on_disposed(self)
