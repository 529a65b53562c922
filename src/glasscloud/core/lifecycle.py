"""The Apps of one user session: start, authenticate, stop, lose, restart and resume.

Each start makes a new `AppSlot`, so a callback holding an old slot can tell it is stale.
An App is in exactly one state (`core.apps.AppState`); leaving the session always goes
through `retire`, which takes the App out of every part of the session at once (slot,
subscriptions, display, dashboard) and tells the glasses once.

Rules, and why (docs/recovery.md has the whole story):
- a start is a webhook, then `loading` until the App authenticates (bounded); concurrent
  starts join one attempt; a standard App replaces the other one only once it runs, so a
  failed start never costs the user the App on screen; the App's time to authenticate
  runs from when its webhook is sent (the shell may queue it per App server), the queue
  wait is bounded apart (`app_start_queue_cap`), and a webhook no longer wanted is dropped;
- a user's start shows a boot screen; a restart or resume does not (it would cover the
  captions the user is reading);
- a stop is final (stop webhook, `app_stopped`, close 1000); what the App sends while it is
  stopped (real Apps unsubscribe in `onStop`) is ignored without an error frame;
- a lost socket gets a grace period, then restarts after 1 s, 2 s, 4 s..., then `crashed`;
- **resume after a restart is one rule**: an App the user ran is `resuming` (the glasses
  see `loading`) until it reconnects by itself (same App session: no webhook, no second
  `onSession`), or until the resume window is over *and* the glasses are attached, when it
  is asked by webhook. Whichever arrives first, the App ends up running in every part of
  the session with its last view shown again, and the glasses hear one `app_state_change`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glasscloud.core.app_recovery import AppRecovery
from glasscloud.core.apps import PUBLIC_STATE, AppSlot, AppState
from glasscloud.core.context import SessionContext
from glasscloud.core.defaults import app_settings_for_ack
from glasscloud.core.display import Display
from glasscloud.core.persisted import LastSaved
from glasscloud.core.ports import Connection, StartResult, WebhookOutcome
from glasscloud.core.records import AppRecord
from glasscloud.core.router import Router
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ErrorCode, ProtocolError

OnResult = Callable[[StartResult], None]


class AppLifecycle:
    def __init__(
        self,
        ctx: SessionContext,
        slots: dict[str, AppSlot],
        router: Router,
        display: Display,
    ) -> None:
        self.ctx = ctx
        self.slots = slots  # shared with the router, which only reads them
        self.router = router
        self.display = display
        self._by_conn: dict[Connection, AppSlot] = {}
        # What each restored App showed and subscribed to, until it runs again.
        self._saved: dict[str, dict[str, Any]] = {}
        self.glasses_attached = False
        self.disposed = False
        self.recovery = AppRecovery(ctx, self)
        self._running_saved = LastSaved()  # which Apps run, as last given to the store

    # ---- queries ---------------------------------------------------------------------

    def slot_for(self, conn: Connection) -> AppSlot | None:
        return self._by_conn.get(conn)

    def unbind(self, conn: Connection) -> AppSlot | None:
        return self._by_conn.pop(conn, None)

    def state_of(self, package_name: str) -> str | None:
        slot = self.slots.get(package_name)
        return PUBLIC_STATE[slot.state] if slot else None

    def is_running(self, package_name: str) -> bool:
        slot = self.slots.get(package_name)
        return slot is not None and slot.state is AppState.RUNNING

    def app_type(self, package_name: str) -> str | None:
        slot = self.slots.get(package_name)
        return slot.record.app_type if slot else None

    def active(self) -> list[str]:
        return [p for p, s in self.slots.items() if s.active]

    def loading(self) -> list[str]:
        return [p for p, s in self.slots.items() if PUBLIC_STATE[s.state] == "loading"]

    def persisted(self) -> list[str]:
        """The Apps that come back after a restart: those that ran and were not stopped."""
        return sorted(p for p, s in self.slots.items() if s.persisted)

    def persist(self) -> None:
        """Which Apps run, written only when it differs from what the store holds."""
        running = self.persisted()
        if self._running_saved.changed(running):
            self.ctx.effects.save_running_apps(self.ctx.user_id, running)

    # ---- starting --------------------------------------------------------------------

    def start(self, record: AppRecord, on_result: OnResult | None = None) -> None:
        """The user starts an App (from the glasses or REST)."""
        if self.disposed:
            if on_result:
                on_result(StartResult(False, record.package_name, "CONNECTION", "Session ended"))
            return
        slot = self.slots.get(record.package_name)
        if slot is not None and slot.active:
            if on_result:
                on_result(StartResult(True, record.package_name))
            return
        if slot is not None and slot.state is AppState.LOADING:
            if on_result:
                slot.waiters.append(on_result)
            return
        if slot is not None and slot.state is AppState.RESUMING:
            # The user asks now: no more waiting for the App's own reconnect.
            self.relaunch(slot, 1, on_result, boot_screen=True)
            return
        self._launch(record, on_result, restarts=0, boot_screen=True)

    def restore(self, records: list[AppRecord], saved: dict[str, Any]) -> None:
        """The Apps the user ran before this process started (or before the session
        ended): each waits as `resuming` (see the module docstring). Silent: the glasses
        learn of them in their `connection_ack`."""
        if self.disposed:
            return
        for record in records:
            package_name = record.package_name
            if package_name in self.slots:
                continue
            session_id = app_wire.app_session_id(self.ctx.user_id, package_name)
            slot = AppSlot(record, session_id, AppState.RESUMING, persisted=True, boot_screen=False)
            self.slots[package_name] = slot
            if isinstance(app_saved := saved.get(package_name), dict):
                self._saved[package_name] = app_saved
            wait = self.ctx.services.resume_time_left() if self.ctx.resumable else 0.0
            if wait > 0:
                slot.start_timer = self.ctx.clock.call_later(
                    wait, lambda s=slot: self._resume_window_over(s)
                )
                self.ctx.app_log(package_name).info("waiting for the App to resume")
            elif self.glasses_attached:  # restored after the glasses' ack (a cluster takeover)
                self.relaunch(slot, 1)
            # else: asked for by webhook as soon as the glasses are here ("starting App")
        self._running_saved.remember(self.persisted())  # what the store holds now

    def _resume_window_over(self, slot: AppSlot) -> None:
        slot.start_timer = None
        current = self.slots.get(slot.package_name) is slot
        if current and slot.state is AppState.RESUMING and self.glasses_attached:
            self.relaunch(slot, 1, announce=False)  # the glasses already see it loading

    def on_glasses_attached(self) -> None:
        """The glasses are back: Apps past their resume window are asked for by webhook,
        and Apps that started running while the glasses were away are announced."""
        self.glasses_attached = True
        for slot in list(self.slots.values()):
            if slot.state is AppState.RESUMING and slot.start_timer is None:
                self.relaunch(slot, 1, announce=False)
            elif slot.unannounced:
                slot.unannounced = False
                self.ctx.broadcast_state({"packageName": slot.package_name, "state": "running"})

    def on_glasses_detached(self) -> None:
        self.glasses_attached = False

    def _launch(
        self,
        record: AppRecord,
        on_result: OnResult | None,
        restarts: int,
        boot_screen: bool,
        announce: bool = True,
    ) -> AppSlot:
        slot = AppSlot(record, app_wire.app_session_id(self.ctx.user_id, record.package_name))
        slot.restarts = restarts
        slot.boot_screen = boot_screen
        slot.launched_at = self.ctx.clock.now()
        if on_result:
            slot.waiters.append(on_result)
        self.slots[record.package_name] = slot
        self.ctx.app_log(record.package_name).info("starting App (restart %d)", restarts)
        self.display.app_starting(record.package_name, record.name, boot_screen)
        if announce:
            self.ctx.broadcast_state({"packageName": record.package_name, "state": "loading"})
        self._send_start_webhook(slot)
        return slot

    def _send_start_webhook(self, slot: AppSlot) -> None:
        slot.retry_timer = None
        if self.slots.get(slot.package_name) is not slot or slot.state is not AppState.LOADING:
            return
        slot.webhook_attempts += 1
        # The start is judged from when its webhook leaves (it may wait behind others to the
        # same App server), and the wait itself is bounded.
        self._arm_start_timer(slot, self.ctx.timings.app_start_queue_cap, self._start_not_sent)
        self.ctx.effects.request_app_start(
            slot.record,
            self.ctx.user_id,
            slot.app_session_id,
            lambda outcome: self._webhook_outcome(slot, outcome),
            lambda: self._webhook_leaving(slot),
        )

    def _arm_start_timer(
        self, slot: AppSlot, seconds: float, fire: Callable[[AppSlot], None]
    ) -> None:
        if slot.start_timer is not None:
            slot.start_timer.cancel()
        slot.start_timer = self.ctx.clock.call_later(seconds, lambda: fire(slot))

    def _webhook_leaving(self, slot: AppSlot) -> bool:
        """The shell sends the start webhook now: still wanted? From now the App has
        `app_start_timeout` to connect and authenticate."""
        if self.slots.get(slot.package_name) is not slot or slot.state is not AppState.LOADING:
            return False
        self._arm_start_timer(slot, self.ctx.timings.app_start_timeout, self._start_timed_out)
        return True

    def _start_not_sent(self, slot: AppSlot) -> None:
        slot.start_timer = None
        if self.slots.get(slot.package_name) is slot and slot.state is AppState.LOADING:
            self._fail_start(
                slot,
                "WEBHOOK",
                f"The start webhook to {slot.record.public_url}/webhook was not sent within "
                f"{self.ctx.timings.app_start_queue_cap:g} s: its App server is saturated "
                "(too many webhooks in flight).",
            )

    def _webhook_outcome(self, slot: AppSlot, outcome: WebhookOutcome) -> None:
        if self.slots.get(slot.package_name) is not slot or slot.state is not AppState.LOADING:
            return  # the App already connected (the SDK answers after its ack), or it ended
        if outcome.ok:
            return  # now waiting for the App to authenticate, bounded by the start timer
        detail = outcome.error or f"HTTP {outcome.status}"
        self.ctx.app_log(slot.package_name).warning("start webhook failed: %s", detail)
        if outcome.retryable and slot.webhook_attempts < self.ctx.timings.webhook_attempts:
            slot.retry_timer = self.ctx.clock.call_later(
                self.ctx.timings.webhook_retry_delay, lambda: self._send_start_webhook(slot)
            )
            return
        self._fail_start(
            slot, "WEBHOOK", f"Webhook to {slot.record.public_url}/webhook failed: {detail}"
        )

    def _start_timed_out(self, slot: AppSlot) -> None:
        slot.start_timer = None
        if self.slots.get(slot.package_name) is slot and slot.state is AppState.LOADING:
            self._fail_start(
                slot,
                "TIMEOUT",
                f"The App did not connect and authenticate within "
                f"{self.ctx.timings.app_start_timeout:g} s of its start webhook being sent.",
            )

    def _fail_start(self, slot: AppSlot, stage: str, message: str) -> None:
        """A start that failed is reported to the glasses, never left `loading`. A failed
        restart of an App that was running keeps trying, bounded."""
        slot.cancel_timers()
        self.ctx.metrics.inc("app_start_failures", stage=stage)
        if slot.restarts:
            self.ctx.app_log(slot.package_name).warning("restart failed (%s): %s", stage, message)
            self.recovery.schedule_restart(
                slot, slot.restarts, {"stage": stage, "message": message}
            )
            return
        self.ctx.app_log(slot.package_name).warning("start failed (%s): %s", stage, message)
        slot.resolve(StartResult(False, slot.package_name, stage, message))
        self.retire(slot, "start_failed", {"stage": stage, "message": message})

    # ---- authentication --------------------------------------------------------------

    def bind(
        self, record: AppRecord, conn: Connection, stored_settings: dict[str, Any]
    ) -> ProtocolError | None:
        """An App socket authenticated for this session. From now on it is identified by the
        socket alone. Returns an error if the App is not starting or running here."""
        slot = self.slots.get(record.package_name)
        if self.disposed or slot is None or slot.state is AppState.STOPPING:
            return ProtocolError(
                ErrorCode.APP_NOT_STARTED,
                f"{record.package_name} is not started for this user; start it from the "
                "glasses or POST /apps/{package}/start first.",
            )
        previous = slot.conn
        if previous is not None and previous is not conn:
            self._by_conn.pop(previous, None)
            previous.close(CloseCode.NORMAL, "Replaced by a newer connection")
        slot.record = record
        slot.conn = conn
        slot.released = None
        self._by_conn[conn] = slot
        was = slot.state
        slot.cancel_timers()
        slot.state = AppState.RUNNING
        if slot.running_since is None:
            slot.running_since = self.ctx.clock.now()
        conn.send_text(
            app_wire.connection_ack(
                slot.app_session_id,
                app_settings_for_ack(record.settings_schema, stored_settings),
                self.ctx.system_settings,
                self.ctx.capabilities,
                app_wire.app_config(record.name, record.settings_schema),
                self.ctx.timestamp(),
            )
        )
        how = {AppState.LOADING: "started", AppState.RESUMING: "resumed"}.get(was, "reconnected")
        self.ctx.app_log(slot.package_name).info("App authenticated (%s)", how)
        if was is AppState.RESUMING:
            self.display.app_starting(slot.package_name, record.name, False)
        if was in (AppState.LOADING, AppState.RESUMING):
            saved = self._saved.pop(slot.package_name, None)
            if saved is not None:
                # Until the SDK re-sends them, the App gets what it subscribed to before.
                if isinstance(subscriptions := saved.get("subscriptions"), list):
                    self.router.update(slot, subscriptions)
                self.display.restore_state(slot.package_name, saved)
            if was is AppState.LOADING:
                started = self.ctx.clock.now() - slot.launched_at
                self.ctx.metrics.observe("app_start_seconds", started)
            slot.resolve(StartResult(True, slot.package_name))
            slot.persisted = True
            if self.glasses_attached:
                self.ctx.broadcast_state({"packageName": slot.package_name, "state": "running"})
            else:
                slot.unannounced = True
            self.persist()
            for other in list(self.slots.values()):
                if record.app_type == other.record.app_type == "standard" and other is not slot:
                    self.stop(other.package_name, "system_stop")
        return None

    # ---- stopping --------------------------------------------------------------------

    def stop(
        self,
        package_name: str,
        reason: str = "user_disabled",
        on_done: Callable[[bool], None] | None = None,
    ) -> bool:
        """Stop webhook first, then `app_stopped` + close(1000, "App stopped") (the SDK does
        not reconnect after that). A stop is final: nothing resurrects a stopped App."""
        slot = self.slots.get(package_name)
        if slot is None:
            if on_done:
                on_done(False)
            return False
        if slot.state in (AppState.LOADING, AppState.RESUMING):
            slot.resolve(StartResult(False, package_name, "STOPPED", "The App was stopped."))
        self.ctx.app_log(package_name).info("stopping App (%s)", reason)
        self.retire(slot, reason)
        # Until its socket closes, what the App sends is its own clean-up (onStop).
        slot.state = AppState.STOPPING

        def finished() -> None:
            if slot.conn is not None:
                slot.conn.send_text(app_wire.app_stopped(self.ctx.timestamp()))
                slot.conn.close(CloseCode.NORMAL, "App stopped")
            if on_done:
                on_done(True)

        self.ctx.effects.request_app_stop(
            slot.record, self.ctx.user_id, slot.app_session_id, reason, finished
        )
        return True

    def retire(self, slot: AppSlot, reason: str, error: dict[str, str] | None = None) -> None:
        """Take the App out of every part of the session at once and tell the glasses."""
        slot.cancel_timers()
        if self.slots.get(slot.package_name) is slot:
            del self.slots[slot.package_name]
        self._saved.pop(slot.package_name, None)
        self.router.remove(slot.package_name)
        self.display.app_stopped(slot.package_name)
        change: dict[str, Any] = {
            "packageName": slot.package_name,
            "state": "stopped",
            "reason": reason,
        }
        if error:
            change["error"] = error
        self.ctx.broadcast_state(change)
        self.persist()

    # ---- losing and restarting (core/app_recovery.py) ---------------------------------

    def closed(self, conn: Connection, code: int | None) -> None:
        """An App socket closed; a late close of a replaced socket is ignored."""
        if (slot := self.recovery.lost_socket(conn)) is not None:
            self.recovery.closed(slot, code)

    def relaunch(
        self,
        old: AppSlot,
        restarts: int,
        on_result: OnResult | None = None,
        boot_screen: bool = False,
        announce: bool = True,
    ) -> None:
        """A fresh slot and webhook for an App this session already had."""
        old.cancel_timers()
        del self.slots[old.package_name]
        new = self._launch(old.record, on_result, restarts, boot_screen, announce)
        new.waiters.extend(old.waiters)
        new.persisted = old.persisted

    # ---- end -------------------------------------------------------------------------

    def let_go(self) -> None:
        """Another node took the user over and the Apps move with the user: nothing is said
        to them here (no stop webhook, no `app_stopped`; the SDK drops its socket when the
        new node's `session_request` reaches it) and nothing more is persisted."""
        self.disposed = True
        for slot in list(self.slots.values()):
            slot.cancel_timers()
            slot.resolve(StartResult(False, slot.package_name, "MOVED", "The session moved."))
        self.slots.clear()
        self._by_conn.clear()
        self._saved.clear()

    def dispose(self) -> None:
        """Apps get `app_stopped` and close(1000, "User session ended"); which Apps ran stays
        persisted, so they come back with the user's next session."""
        self.disposed = True
        ts = self.ctx.timestamp()
        for slot in list(self.slots.values()):
            slot.cancel_timers()
            slot.resolve(StartResult(False, slot.package_name, "CONNECTION", "Session ended"))
            if slot.conn is not None:
                slot.conn.send_text(app_wire.app_stopped(ts))
                slot.conn.close(CloseCode.NORMAL, "User session ended")
        self.slots.clear()
        self._by_conn.clear()
        self._saved.clear()
