"""Bringing back an App whose socket went away; sans-I/O, one per session, beside the
`AppLifecycle` whose slots it works on.

Rules, and why:
- an unexpected close gets a grace period for the SDK to reconnect by itself (same App
  session, nothing lost), then a fresh `session_request` after 1 s, 2 s, 4 s..., then
  `crashed` (the reference retried every ~5 s forever);
- an App that released its session on purpose (`clean_shutdown`, `user_logout`) is not
  brought back;
- an App server that says it restarted gets a fresh `session_request` at once: its old
  sockets are stale;
- an App that tried to reach this user through another node of a cluster is asked again
  by webhook with this node's URL, unless it is running here or already being asked (so a
  stale reconnect to an old node never disturbs a live App).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from glasscloud.core.apps import AppSlot, AppState
from glasscloud.core.context import SessionContext
from glasscloud.core.ports import Connection
from glasscloud.protocol.close_codes import CloseCode

if TYPE_CHECKING:
    from glasscloud.core.lifecycle import AppLifecycle


class AppRecovery:
    def __init__(self, ctx: SessionContext, lifecycle: AppLifecycle) -> None:
        self.ctx = ctx
        self.lifecycle = lifecycle

    def _current(self, slot: AppSlot) -> bool:
        return self.lifecycle.slots.get(slot.package_name) is slot

    def closed(self, slot: AppSlot, code: int | None) -> None:
        """The App's current socket closed (the lifecycle has unbound it)."""
        if slot.state is AppState.STOPPING or not self._current(slot):
            return
        app_log = self.ctx.app_log(slot.package_name)
        if slot.released in ("clean_shutdown", "user_logout"):
            app_log.info("App released its session (%s); not restarting", slot.released)
            self.lifecycle.retire(slot, slot.released)
            return
        app_log.info(
            "App socket closed unexpectedly (code %s); grace %.0f s",
            code,
            self.ctx.timings.app_reconnect_grace,
        )
        slot.state = AppState.GRACE
        slot.grace_timer = self.ctx.clock.call_later(
            self.ctx.timings.app_reconnect_grace, lambda: self._grace_expired(slot)
        )

    def _grace_expired(self, slot: AppSlot) -> None:
        slot.grace_timer = None
        if not self._current(slot) or slot.state is not AppState.GRACE:
            return
        stable = slot.running_since is not None and (
            self.ctx.clock.now() - slot.running_since >= self.ctx.timings.app_stable_run
        )
        self.schedule_restart(slot, 0 if stable else slot.restarts)

    def schedule_restart(
        self, slot: AppSlot, restarts: int, error: dict[str, str] | None = None
    ) -> None:
        """A fresh `session_request` after 1 s, 2 s, 4 s...; after `app_max_restarts` in a
        row the App is reported `crashed`."""
        if restarts >= self.ctx.timings.app_max_restarts:
            self.ctx.app_log(slot.package_name).warning(
                "App lost %d times in a row; giving up", restarts + 1
            )
            self.ctx.metrics.inc("app_restarts_exhausted")
            self.lifecycle.retire(slot, "crashed", error)
            return
        delay = self.ctx.timings.app_restart_backoff * (2**restarts)
        self.ctx.app_log(slot.package_name).info(
            "restarting App in %.1f s (attempt %d)", delay, restarts + 1
        )
        self.ctx.metrics.inc("app_restarts")
        slot.state = AppState.LOADING
        self.lifecycle.router.remove(slot.package_name)
        slot.retry_timer = self.ctx.clock.call_later(
            delay, lambda: self._restart(slot, restarts + 1)
        )

    def _restart(self, old: AppSlot, restarts: int) -> None:
        if not self._current(old) or old.state is not AppState.LOADING:
            return
        self.lifecycle.relaunch(old, restarts)

    def restart(self, package_name: str) -> bool:
        """The App's server says it restarted: ask it for a fresh session now. False if the
        App is not running here."""
        slot = self.lifecycle.slots.get(package_name)
        if slot is None or slot.state is AppState.STOPPING:
            return False
        if slot.conn is not None:
            self.lifecycle.unbind(slot.conn)
            slot.conn.close(CloseCode.SERVICE_RESTART, "App server restarted")
            slot.conn = None
        self.lifecycle.router.remove(package_name)
        self.lifecycle.relaunch(slot, 0)
        return True

    def ask_again(self, package_name: str) -> bool:
        """The App knocked at another node for this user: ask it again with our URL, unless
        it runs here with a live socket or a start is already under way. True if asked."""
        slot = self.lifecycle.slots.get(package_name)
        if slot is None or slot.live or slot.state in (AppState.STOPPING, AppState.LOADING):
            return False
        self.ctx.app_log(package_name).info("App reached another node; asking it again here")
        return self.restart(package_name)

    def lost_socket(self, conn: Connection) -> AppSlot | None:
        """The slot whose current socket `conn` was, now unbound; None for a replaced or
        unknown socket (its late close never touches the session)."""
        slot = self.lifecycle.unbind(conn)
        if slot is None or slot.conn is not conn:
            return None
        slot.conn = None
        return slot
