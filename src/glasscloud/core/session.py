"""One user's live session: the glasses connection, the Apps running for the user, routing
between them, and the microphone state. Sans-I/O: everything arrives as a method call and
leaves through `Connection`s and `SessionEffects`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from glasscloud.core.apps import PUBLIC_STATE, AppSlot, AppState
from glasscloud.core.clock import Clock, TimerHandle
from glasscloud.core.defaults import (
    DEFAULT_CAPABILITIES,
    DEFAULT_SYSTEM_SETTINGS,
    app_settings_for_ack,
)
from glasscloud.core.display import DASHBOARD_MESSAGES, DisplayContext, DisplayFactory
from glasscloud.core.display_manager import DisplayManager
from glasscloud.core.metrics import Metrics
from glasscloud.core.microphone import MicrophoneState
from glasscloud.core.ports import Connection, SessionEffects, StartResult, WebhookOutcome
from glasscloud.core.subscriptions import SubscriptionIndex
from glasscloud.core.timings import Timings
from glasscloud.core.transcription import NoTranscription, TranscriptionFactory
from glasscloud.protocol import app as app_wire
from glasscloud.protocol import glasses as glasses_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import GlassesMessage, transcription_data
from glasscloud.protocol.jsonio import encode, iso_timestamp
from glasscloud.protocol.streams import (
    MICROPHONE,
    has_permission,
    parse_subscription,
    required_permission,
    transcription_key,
)
from glasscloud.store.records import AppRecord

log = logging.getLogger("glasscloud.session")

# Glasses event types delivered under more than one routing key (old and new stream names).
ROUTE_ALIASES: dict[str, tuple[str, ...]] = {
    "notification_dismissed": ("notification_dismissed", "phone_notification_dismissed"),
}


CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008


class SessionLog(logging.LoggerAdapter):
    """Every line about a session carries its user (and the App, where relevant)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.pop("extra", None) or {})
        kwargs["extra"] = extra
        return msg, kwargs


class UserSession:
    def __init__(
        self,
        user_id: str,
        clock: Clock,
        effects: SessionEffects,
        timings: Timings,
        metrics: Metrics | None = None,
        system_settings: dict[str, Any] | None = None,
        on_disposed: Callable[[UserSession], None] | None = None,
        display_factory: DisplayFactory | None = None,
        transcription_factory: TranscriptionFactory | None = None,
    ) -> None:
        self.user_id = user_id
        self.clock = clock
        self.effects = effects
        self.timings = timings
        self.metrics = metrics or Metrics()
        self.system_settings = {**DEFAULT_SYSTEM_SETTINGS, **(system_settings or {})}
        self.capabilities = DEFAULT_CAPABILITIES
        self.start_time = iso_timestamp(clock.wall())
        self.apps: dict[str, AppSlot] = {}
        self.subscriptions = SubscriptionIndex()
        self.glasses: Connection | None = None
        self.disposed = False
        self.glasses_seen = False
        # Apps the user ran before a restart that have not come back yet: kept in the
        # persisted list until the glasses return and they are started (or the user stops them).
        self.pending_restore: set[str] = set()
        self._on_disposed = on_disposed
        self._slot_by_conn: dict[Connection, AppSlot] = {}
        self._grace_timer: TimerHandle | None = None
        self._mic_timer: TimerHandle | None = None
        self._mic = MicrophoneState(clock, timings.mic_debounce, self._send_mic_state)
        self.log = SessionLog(log, {"userId": user_id})
        self.display = (display_factory or DisplayManager)(
            DisplayContext(
                clock,
                timings,
                self._to_glasses,
                self._is_running,
                self._ts,
                self._app_type,
                user_id=user_id,
                send_to_app=self._to_app,
            )
        )
        self.transcription = (transcription_factory or NoTranscription)(
            user_id, self.deliver_transcription, self.report_transcription_problem
        )
        self._wanted_languages: set[str] = set()

    # ---- helpers ---------------------------------------------------------------------

    def _ts(self) -> str:
        return iso_timestamp(self.clock.wall())

    def _app_log(self, slot: AppSlot) -> SessionLog:
        return SessionLog(log, {"userId": self.user_id, "packageName": slot.package_name})

    def _to_glasses(self, text: str) -> None:
        if self.glasses is None:
            self.metrics.inc("glasses_sends_dropped", reason="disconnected")
            return
        self.glasses.send_text(text)

    def _to_app(self, package_name: str, text: str) -> None:
        slot = self.apps.get(package_name)
        if slot is not None and slot.conn is not None and slot.state is AppState.RUNNING:
            slot.conn.send_text(text)

    def _is_running(self, package_name: str) -> bool:
        slot = self.apps.get(package_name)
        return slot is not None and slot.state is AppState.RUNNING

    def _app_type(self, package_name: str) -> str | None:
        slot = self.apps.get(package_name)
        return slot.record.app_type if slot else None

    def app_state(self, package_name: str) -> str | None:
        slot = self.apps.get(package_name)
        return PUBLIC_STATE[slot.state] if slot else None

    def snapshot(self) -> dict[str, Any]:
        """The `userSession` object of `connection_ack` and `app_state_change` (§4.2)."""
        active = [p for p, s in self.apps.items() if s.state in (AppState.RUNNING, AppState.GRACE)]
        loading = [p for p, s in self.apps.items() if s.state is AppState.LOADING]
        subs = self.subscriptions.as_map()
        return {
            "userId": self.user_id,
            "sessionId": self.user_id,
            "startTime": self.start_time,
            "activeAppSessions": active,
            "loadingApps": loading,
            "appSubscriptions": {p: subs.get(p, []) for p in active},
            "requiresAudio": self._requires_audio(),
            "minimumTranscriptionLanguages": self.subscriptions.language_streams(),
            "isTranscribing": self._is_transcribing(),
        }

    def _broadcast_state(self, change: dict[str, Any] | None = None) -> None:
        self._to_glasses(
            glasses_wire.app_state_change(self.user_id, self.snapshot(), self._ts(), change)
        )

    def _persist_running(self) -> None:
        running = {p for p, s in self.apps.items() if s.state in (AppState.RUNNING, AppState.GRACE)}
        self.effects.save_running_apps(self.user_id, sorted(running | self.pending_restore))

    # ---- glasses ---------------------------------------------------------------------

    def attach_glasses(self, conn: Connection) -> None:
        """A glasses socket authenticated: it becomes current, and gets exactly one
        `connection_ack` at once (Apps that are still starting are reported later through
        `app_state_change`)."""
        previous = self.glasses
        self.glasses = conn
        self.glasses_seen = True
        if self._grace_timer is not None:
            self._grace_timer.cancel()
            self._grace_timer = None
        if previous is not None and previous is not conn:
            previous.send_text(
                glasses_wire.connection_error(
                    ErrorCode.SESSION_REPLACED,
                    "A newer connection for this user took over this session.",
                    self._ts(),
                )
            )
            previous.close(CLOSE_NORMAL, "Replaced by a newer connection")
        conn.send_text(glasses_wire.connection_ack(self.user_id, self.snapshot(), self._ts()))
        self._mic.resend()
        if self._mic.last_sent is None:
            self._recompute_mic()
        self.display.glasses_connected()

    def glasses_closed(self, conn: Connection) -> None:
        """Only the current socket's close counts: a late close of a replaced socket never
        touches the live session (reference defect C10)."""
        if conn is not self.glasses or self.disposed:
            return
        self.glasses = None
        self.transcription.glasses_disconnected()
        self.log.info("glasses disconnected; grace period %.0f s", self.timings.glasses_grace)
        self._grace_timer = self.clock.call_later(self.timings.glasses_grace, self._grace_expired)

    def await_glasses(self) -> None:
        """A session that exists before its glasses (an App came back first, after a server
        restart) waits for them one grace period, then ends like any other."""
        if self.glasses is None and self._grace_timer is None and not self.disposed:
            self._grace_timer = self.clock.call_later(
                self.timings.glasses_grace, self._grace_expired
            )

    def adopt_app(self, record: AppRecord) -> None:
        """An App the user was running reconnects on its own (the SDK retries after a server
        restart): expect its authentication without sending a webhook, bounded by the start
        timeout like any start."""
        if self.disposed or record.package_name in self.apps:
            return
        slot = AppSlot(record, app_wire.app_session_id(self.user_id, record.package_name))
        self.apps[record.package_name] = slot
        slot.start_timer = self.clock.call_later(
            self.timings.app_start_timeout, lambda: self._start_timed_out(slot)
        )
        self._app_log(slot).info("App reconnected to a resumed session")

    def _grace_expired(self) -> None:
        self._grace_timer = None
        if self.glasses is None and not self.disposed:
            self.log.info("glasses did not come back within the grace period; ending session")
            self.dispose()

    def glasses_error(self, error: ProtocolError) -> None:
        self.metrics.inc("glasses_errors", code=error.code.value)
        self._to_glasses(
            glasses_wire.connection_error(error.code, error.message, self._ts(), error.field)
        )

    def handle_glasses_message(self, msg: GlassesMessage) -> None:
        kind = msg.type
        if kind in ("connection_init", "keep_alive_ack", "core_status_update", "start_app"):
            # start_app needs the App record: the shell looks it up and calls start_app().
            return
        if kind == "stop_app":
            self.stop_app(msg.obj["packageName"], "user_disabled")
        elif kind == "request_settings":
            self._to_glasses(
                glasses_wire.settings_update(self.system_settings, self._ts(), self.user_id)
            )
        elif kind == "settings_update_request":
            self._to_glasses(glasses_wire.settings_update(self.system_settings, self._ts()))
        elif kind == "local_transcription":
            self.deliver_transcription(transcription_data(msg.obj, int(self.clock.wall() * 1000)))
        elif kind == "touch_event":
            self._deliver("touch_event", msg.text)
            gesture = msg.obj.get("gesture_name")
            if isinstance(gesture, str):
                self._deliver(f"touch_event:{gesture}", msg.text, wildcards=False)
        elif kind in ROUTE_ALIASES:
            first, *others = ROUTE_ALIASES[kind]
            self._deliver(first, msg.text)
            for key in others:
                self._deliver(key, msg.text, wildcards=False)
        else:
            if kind == "head_position":
                self.display.head_position(msg.obj["position"])
            elif kind == "VAD":
                self.transcription.vad(msg.obj["status"] in (True, "true"))
            self._deliver(kind, msg.text)

    def deliver_transcription(self, data: dict[str, Any]) -> None:
        """Route one `transcription` result (from the phone or a recogniser) to the Apps
        subscribed to its language (and to `transcription:auto`)."""
        data_json = encode(data)
        self._deliver(transcription_key(data["transcribeLanguage"]), data_json)
        self._deliver("transcription:auto", data_json, wildcards=False)

    def report_transcription_problem(self, key: str, message: str) -> None:
        """A recogniser problem (failure, retry, unsupported language) told to every App
        subscribed to routing key `key` as a `tpa_connection_error` (the socket stays)."""
        self.metrics.inc("transcription_problems")
        ts = self._ts()
        for package_name, raw in self.subscriptions.recipients(key):
            slot = self.apps.get(package_name)
            if slot is not None and slot.conn is not None and slot.state is AppState.RUNNING:
                slot.conn.send_text(
                    app_wire.connection_error(ErrorCode.TRANSCRIPTION_UNAVAILABLE, message, ts, raw)
                )

    def handle_glasses_audio(self, data: bytes) -> None:
        """Binary frames are 16 kHz 16-bit mono PCM; relayed byte-identical."""
        self.transcription.audio(data)
        sent = 0
        exact = self.subscriptions.recipients("audio_chunk")
        for package_name, _raw in exact:
            slot = self.apps.get(package_name)
            if slot is not None and slot.conn is not None and slot.state is AppState.RUNNING:
                slot.conn.send_binary(data)
                sent += 1
        for package_name in self.subscriptions.wildcard_apps:
            slot = self.apps.get(package_name)
            if (
                slot is None
                or slot.conn is None
                or slot.state is not AppState.RUNNING
                or not has_permission(slot.permissions, MICROPHONE)
                or any(p == package_name for p, _ in exact)
            ):
                continue
            slot.conn.send_binary(data)
            sent += 1
        self.metrics.inc("audio_frames_in")
        self.metrics.inc("audio_frames_out", sent)

    def _deliver(self, key: str, data_json: str, wildcards: bool = True) -> None:
        """Send `data_json` as a data_stream to every App subscribed to `key`, each with the
        exact string it subscribed with; wildcard subscribers get `key` as the streamType if
        their permissions cover it (the reference let `*` bypass permissions, C12)."""
        exact = self.subscriptions.recipients(key)
        wild = self.subscriptions.wildcard_apps if wildcards else ()
        if not exact and not wild:
            return
        ts = iso_timestamp(self.clock.wall())
        for package_name, raw in exact:
            self._send_data(package_name, raw, data_json, ts)
        if wild:
            required = required_permission(key)
            exact_apps = {p for p, _ in exact}
            for package_name in wild:
                slot = self.apps.get(package_name)
                if package_name in exact_apps or slot is None:
                    continue
                if has_permission(slot.permissions, required):
                    self._send_data(package_name, key, data_json, ts)

    def _send_data(self, package_name: str, stream_type: str, data_json: str, ts: str) -> None:
        slot = self.apps.get(package_name)
        if slot is None or slot.conn is None or slot.state is not AppState.RUNNING:
            self.metrics.inc("app_deliveries_dropped", reason="not_connected")
            return
        slot.conn.send_text(app_wire.data_stream_frame(slot.prefix(stream_type), data_json, ts))
        self.metrics.inc("app_deliveries")

    # ---- App lifecycle ---------------------------------------------------------------

    def start_app(
        self, record: AppRecord, on_result: Callable[[StartResult], None] | None = None
    ) -> None:
        """Start an App: webhook, then `loading` until it authenticates. Concurrent starts of
        the same App join one attempt (no webhook storms)."""
        self.pending_restore.discard(record.package_name)
        if self.disposed:
            if on_result:
                on_result(StartResult(False, record.package_name, "CONNECTION", "Session ended"))
            return
        slot = self.apps.get(record.package_name)
        if slot is not None and slot.state in (AppState.RUNNING, AppState.GRACE):
            if on_result:
                on_result(StartResult(True, record.package_name))
            return
        if slot is not None and slot.state is AppState.LOADING:
            if on_result:
                slot.waiters.append(on_result)
            return
        if record.app_type == "standard":
            for other in list(self.apps.values()):
                if (
                    other.record.app_type == "standard"
                    and other.package_name != record.package_name
                ):
                    self.stop_app(other.package_name, "system_stop")
        self._launch(record, on_result, restarts=0)

    def _launch(
        self,
        record: AppRecord,
        on_result: Callable[[StartResult], None] | None,
        restarts: int,
    ) -> AppSlot:
        slot = AppSlot(record, app_wire.app_session_id(self.user_id, record.package_name))
        slot.restarts = restarts
        if on_result:
            slot.waiters.append(on_result)
        self.apps[record.package_name] = slot
        slot.start_timer = self.clock.call_later(
            self.timings.app_start_timeout, lambda: self._start_timed_out(slot)
        )
        self._app_log(slot).info("starting App (restart %d)", restarts)
        self.display.app_starting(record.package_name, record.name)
        self._broadcast_state({"packageName": record.package_name, "state": "loading"})
        self._send_start_webhook(slot)
        return slot

    def _send_start_webhook(self, slot: AppSlot) -> None:
        slot.retry_timer = None
        slot.webhook_attempts += 1
        self.effects.request_app_start(
            slot.record,
            self.user_id,
            slot.app_session_id,
            lambda outcome: self._webhook_outcome(slot, outcome),
        )

    def _webhook_outcome(self, slot: AppSlot, outcome: WebhookOutcome) -> None:
        if self.apps.get(slot.package_name) is not slot or slot.state is not AppState.LOADING:
            return  # the App already connected (the SDK answers after its ack), or it ended
        if outcome.ok:
            return  # now waiting for the App to authenticate, bounded by the start timer
        detail = outcome.error or f"HTTP {outcome.status}"
        self._app_log(slot).warning("start webhook failed: %s", detail)
        if outcome.retryable and slot.webhook_attempts < self.timings.webhook_attempts:
            slot.retry_timer = self.clock.call_later(
                self.timings.webhook_retry_delay, lambda: self._retry_webhook(slot)
            )
            return
        self._fail_start(
            slot, "WEBHOOK", f"Webhook to {slot.record.public_url}/webhook failed: {detail}"
        )

    def _retry_webhook(self, slot: AppSlot) -> None:
        if self.apps.get(slot.package_name) is slot and slot.state is AppState.LOADING:
            self._send_start_webhook(slot)

    def _start_timed_out(self, slot: AppSlot) -> None:
        slot.start_timer = None
        if self.apps.get(slot.package_name) is slot and slot.state is AppState.LOADING:
            self._fail_start(
                slot,
                "TIMEOUT",
                f"The App did not connect and authenticate within "
                f"{self.timings.app_start_timeout:g} s of the start webhook.",
            )

    def _fail_start(self, slot: AppSlot, stage: str, message: str) -> None:
        """A start that failed is reported to the glasses, never left `loading` (C19). A
        failed restart of an App that was running keeps trying, bounded."""
        slot.cancel_timers()
        if slot.restarts:
            self.metrics.inc("app_start_failures", stage=stage)
            self._app_log(slot).warning("restart failed (%s): %s", stage, message)
            self._schedule_restart(slot, slot.restarts, {"stage": stage, "message": message})
            return
        del self.apps[slot.package_name]
        self.subscriptions.remove(slot.package_name)
        self.display.app_stopped(slot.package_name)
        self.metrics.inc("app_start_failures", stage=stage)
        self._app_log(slot).warning("start failed (%s): %s", stage, message)
        slot.resolve(StartResult(False, slot.package_name, stage, message))
        self._broadcast_state(
            {
                "packageName": slot.package_name,
                "state": "stopped",
                "reason": "start_failed",
                "error": {"stage": stage, "message": message},
            }
        )
        self._persist_running()
        self._subscriptions_changed(broadcast=False)

    def bind_app(
        self, record: AppRecord, conn: Connection, stored_settings: dict[str, Any]
    ) -> ProtocolError | None:
        """An App socket authenticated for this session. From now on it is identified by the
        socket alone. Returns an error if the App is not starting or running here."""
        slot = self.apps.get(record.package_name)
        if self.disposed or slot is None or slot.state is AppState.STOPPING:
            return ProtocolError(
                ErrorCode.APP_NOT_STARTED,
                f"{record.package_name} is not started for this user; start it from the "
                "glasses or POST /apps/{package}/start first.",
            )
        previous = slot.conn
        if previous is not None and previous is not conn:
            self._slot_by_conn.pop(previous, None)
            previous.close(CLOSE_NORMAL, "Replaced by a newer connection")
        slot.record = record
        slot.conn = conn
        slot.released = None
        self._slot_by_conn[conn] = slot
        was_loading = slot.state is AppState.LOADING
        slot.cancel_timers()
        slot.state = AppState.RUNNING
        if slot.running_since is None:
            slot.running_since = self.clock.now()
        conn.send_text(
            app_wire.connection_ack(
                slot.app_session_id,
                app_settings_for_ack(record.settings_schema, stored_settings),
                self.system_settings,
                self.capabilities,
                {
                    "name": record.name,
                    "description": "",
                    "version": "1.0.0",
                    "settings": list(record.settings_schema),
                },
                self._ts(),
            )
        )
        self._app_log(slot).info("App authenticated (%s)", "started" if was_loading else "resumed")
        if was_loading:
            slot.resolve(StartResult(True, slot.package_name))
            self._broadcast_state({"packageName": slot.package_name, "state": "running"})
            self._persist_running()
        return None

    def stop_app(
        self,
        package_name: str,
        reason: str = "user_disabled",
        on_done: Callable[[bool], None] | None = None,
    ) -> bool:
        """Stop webhook first, then `app_stopped` + close(1000, "App stopped") (the SDK does
        not reconnect after that). A stop is final: nothing resurrects a stopped App."""
        if package_name in self.pending_restore:
            self.pending_restore.discard(package_name)
            self._persist_running()
        slot = self.apps.pop(package_name, None)
        if slot is None:
            if on_done:
                on_done(False)
            return False
        slot.cancel_timers()
        was_loading = slot.state is AppState.LOADING
        slot.state = AppState.STOPPING
        self.subscriptions.remove(package_name)
        self.display.app_stopped(package_name)
        if was_loading:
            slot.resolve(StartResult(False, package_name, "STOPPED", "The App was stopped."))
        self._app_log(slot).info("stopping App (%s)", reason)
        self._broadcast_state({"packageName": package_name, "state": "stopped", "reason": reason})
        self._persist_running()
        self._subscriptions_changed(broadcast=False)

        def finished() -> None:
            if slot.conn is not None:
                slot.conn.send_text(app_wire.app_stopped(self._ts()))
                slot.conn.close(CLOSE_NORMAL, "App stopped")
            if on_done:
                on_done(True)

        self.effects.request_app_stop(
            slot.record, self.user_id, slot.app_session_id, reason, finished
        )
        return True

    def app_closed(self, conn: Connection, code: int | None, reason: str = "") -> None:
        """An App socket closed. Bound to the socket: a late close of a replaced socket is
        ignored. An unexpected close gets a grace period for the SDK to reconnect, then a
        bounded, backed-off restart."""
        slot = self._slot_by_conn.pop(conn, None)
        if slot is None or slot.conn is not conn:
            return
        slot.conn = None
        if slot.state is AppState.STOPPING or self.apps.get(slot.package_name) is not slot:
            return
        app_log = self._app_log(slot)
        if slot.released in ("clean_shutdown", "user_logout"):
            app_log.info("App released its session (%s); not restarting", slot.released)
            self._end_without_restart(slot, slot.released)
            return
        app_log.info(
            "App socket closed unexpectedly (code %s); grace %.0f s",
            code,
            self.timings.app_reconnect_grace,
        )
        slot.state = AppState.GRACE
        slot.grace_timer = self.clock.call_later(
            self.timings.app_reconnect_grace, lambda: self._app_grace_expired(slot)
        )

    def _end_without_restart(
        self, slot: AppSlot, reason: str, error: dict[str, str] | None = None
    ) -> None:
        slot.cancel_timers()
        del self.apps[slot.package_name]
        self.subscriptions.remove(slot.package_name)
        self.display.app_stopped(slot.package_name)
        change: dict[str, Any] = {
            "packageName": slot.package_name,
            "state": "stopped",
            "reason": reason,
        }
        if error:
            change["error"] = error
        self._broadcast_state(change)
        self._persist_running()
        self._subscriptions_changed(broadcast=False)

    def _app_grace_expired(self, slot: AppSlot) -> None:
        slot.grace_timer = None
        if self.apps.get(slot.package_name) is not slot or slot.state is not AppState.GRACE:
            return
        stable = slot.running_since is not None and (
            self.clock.now() - slot.running_since >= self.timings.app_stable_run
        )
        self._schedule_restart(slot, 0 if stable else slot.restarts)

    def _schedule_restart(
        self, slot: AppSlot, restarts: int, error: dict[str, str] | None = None
    ) -> None:
        """Bring back an App that was lost (or whose restart failed) with a fresh
        `session_request`, after 1 s, 2 s, 4 s...; after `app_max_restarts` in a row it is
        reported `crashed` (the reference retried every ~5 s forever, C16)."""
        if restarts >= self.timings.app_max_restarts:
            self._app_log(slot).warning("App lost %d times in a row; giving up", restarts + 1)
            self.metrics.inc("app_restarts_exhausted")
            self._end_without_restart(slot, "crashed", error)
            return
        delay = self.timings.app_restart_backoff * (2**restarts)
        self._app_log(slot).info("restarting App in %.1f s (attempt %d)", delay, restarts + 1)
        self.metrics.inc("app_restarts")
        slot.state = AppState.LOADING
        self.subscriptions.remove(slot.package_name)
        self._subscriptions_changed(broadcast=False)
        slot.retry_timer = self.clock.call_later(delay, lambda: self._restart(slot, restarts + 1))

    def _restart(self, old: AppSlot, restarts: int) -> None:
        if self.apps.get(old.package_name) is not old or old.state is not AppState.LOADING:
            return
        old.cancel_timers()
        del self.apps[old.package_name]
        new = self._launch(old.record, None, restarts)
        new.waiters.extend(old.waiters)

    def restart_app(self, package_name: str) -> bool:
        """The App's server says it restarted: its sockets are stale, so ask it for a fresh
        session now (the user does nothing). False if the App is not running here."""
        slot = self.apps.get(package_name)
        if slot is None:
            return False
        if slot.conn is not None:
            self._slot_by_conn.pop(slot.conn, None)
            slot.conn.close(1012, "App server restarted")
            slot.conn = None
        slot.cancel_timers()
        del self.apps[package_name]
        self.subscriptions.remove(package_name)
        self._subscriptions_changed(broadcast=False)
        new = self._launch(slot.record, None, 0)
        new.waiters.extend(slot.waiters)
        return True

    # ---- App messages ----------------------------------------------------------------

    def handle_app_text(self, conn: Connection, text: str) -> None:
        slot = self._slot_by_conn.get(conn)
        if slot is None:
            return
        try:
            msg = app_wire.decode_app_message(text)
        except ProtocolError as error:
            self._app_error(slot, error)
            return
        kind = msg.type
        if slot.state is AppState.STOPPING:
            self._app_error(
                slot,
                ProtocolError(
                    ErrorCode.APP_NOT_RUNNING,
                    f"{slot.package_name} is being stopped; '{kind}' was ignored.",
                ),
            )
            return
        claimed = msg.obj.get("packageName")
        if isinstance(claimed, str) and claimed and claimed != slot.package_name:
            self.metrics.inc("impersonation_attempts")
            self._app_error(
                slot,
                ProtocolError(
                    ErrorCode.PACKAGE_MISMATCH,
                    f"This connection belongs to {slot.package_name}; a message claiming to "
                    f"be from {claimed} was ignored.",
                    "packageName",
                ),
            )
            return
        if kind == "subscription_update":
            self._update_subscriptions(slot, msg.obj["subscriptions"])
        elif kind == "display_event":
            # A bound socket means a RUNNING App (STOPPING was answered above); it is shown
            # as the bound App, never as the packageName inside the message.
            self.display.show(slot.package_name, msg.obj)
        elif kind in DASHBOARD_MESSAGES:
            error = self.display.app_message(slot.package_name, kind, msg.obj)
            if error is not None:
                self._app_error(slot, error)
        elif kind == "ownership_release":
            slot.released = str(msg.obj.get("reason") or "")
        elif kind == "tpa_connection_init":
            return  # already authenticated on this socket
        else:
            self._app_error(
                slot,
                ProtocolError(
                    ErrorCode.NOT_SUPPORTED,
                    f"'{kind}' is not supported by this glasscloud version yet.",
                    "type",
                ),
            )

    def handle_app_binary(self, conn: Connection) -> None:
        slot = self._slot_by_conn.get(conn)
        if slot is not None:
            self._app_error(
                slot,
                ProtocolError(
                    ErrorCode.BINARY_NOT_ALLOWED,
                    "Apps send JSON in text frames; binary frames are not accepted.",
                ),
            )

    def _app_error(self, slot: AppSlot, error: ProtocolError) -> None:
        """An error frame with a code, the field and a sentence; the socket stays open (a
        1008 close would leave a zombie session inside the SDK)."""
        self.metrics.inc("app_errors", code=error.code.value)
        self._app_log(slot).info("rejected App message: %s (%s)", error.message, error.code)
        if slot.conn is not None:
            slot.conn.send_text(
                app_wire.connection_error(error.code, error.message, self._ts(), error.field)
            )

    def _update_subscriptions(self, slot: AppSlot, entries: list[Any]) -> None:
        accepted = []
        denied: list[dict[str, str]] = []
        for index, entry in enumerate(entries):
            try:
                sub = parse_subscription(entry, f"subscriptions[{index}]")
            except ProtocolError as error:
                self._app_error(slot, error)
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
            accepted.append(sub)
        if denied and slot.conn is not None:
            self.metrics.inc("permission_denials", len(denied))
            slot.conn.send_text(app_wire.permission_error(denied, self._ts()))
        if self.subscriptions.replace(slot.package_name, accepted):
            self._subscriptions_changed(broadcast=True)

    def _subscriptions_changed(self, broadcast: bool) -> None:
        """After any change of who subscribes to what: tell the glasses (when asked), let the
        microphone state settle, and tell the recogniser which languages are wanted."""
        if broadcast:
            self._broadcast_state()
        self._schedule_mic()
        wanted = {k for k in self.subscriptions.media_keys() if k.startswith("transcription:")}
        if wanted != self._wanted_languages:
            self._wanted_languages = wanted
            self.transcription.languages_changed(set(wanted))

    # ---- microphone ------------------------------------------------------------------

    def _requires_audio(self) -> bool:
        if self.subscriptions.media_keys():
            return True
        return any(
            has_permission(slot.permissions, MICROPHONE)
            for p in self.subscriptions.wildcard_apps
            if (slot := self.apps.get(p)) is not None
        )

    def _is_transcribing(self) -> bool:
        return any(k.startswith("transcription:") for k in self.subscriptions.media_keys())

    def _required_data(self) -> list[str]:
        keys = self.subscriptions.media_keys()
        data = []
        if "audio_chunk" in keys:
            data.append("pcm")
        if any(k != "audio_chunk" for k in keys):
            data.append("transcription")
        return data

    def _schedule_mic(self) -> None:
        """Subscription changes settle for a moment before the mic state is recomputed."""
        if self._mic_timer is None and not self.disposed:
            self._mic_timer = self.clock.call_later(
                self.timings.subscription_mic_debounce, self._recompute_mic
            )

    def _recompute_mic(self) -> None:
        self._mic_timer = None
        self._mic.update(self._requires_audio())

    def _send_mic_state(self, enabled: bool) -> None:
        active = [p for p, s in self.apps.items() if s.state in (AppState.RUNNING, AppState.GRACE)]
        loading = [p for p, s in self.apps.items() if s.state is AppState.LOADING]
        mic_session = {
            "sessionId": self.user_id,
            "userId": self.user_id,
            "startTime": self.start_time,
            "activeAppSessions": active,
            "loadingApps": loading,
            "isTranscribing": self._is_transcribing(),
        }
        self._to_glasses(
            glasses_wire.microphone_state_change(
                self.user_id, mic_session, enabled, self._required_data(), self._ts()
            )
        )

    # ---- end -------------------------------------------------------------------------

    def dispose(self) -> None:
        """End the session: Apps get `app_stopped` and close(1000, "User session ended");
        which Apps ran stays persisted, so they come back with the user's next session."""
        if self.disposed:
            return
        self.disposed = True
        for timer in (self._grace_timer, self._mic_timer):
            if timer is not None:
                timer.cancel()
        self._mic.cancel()
        self.display.dispose()
        self.transcription.dispose()
        ts = self._ts()
        for slot in list(self.apps.values()):
            slot.cancel_timers()
            slot.resolve(StartResult(False, slot.package_name, "CONNECTION", "Session ended"))
            if slot.conn is not None:
                slot.conn.send_text(app_wire.app_stopped(ts))
                slot.conn.close(CLOSE_NORMAL, "User session ended")
        self.apps.clear()
        self._slot_by_conn.clear()
        self.subscriptions.clear()
        if self.glasses is not None:
            self.glasses.close(CLOSE_NORMAL, "Session ended")
            self.glasses = None
        self.log.info("session disposed")
        if self._on_disposed is not None:
            self._on_disposed(self)
