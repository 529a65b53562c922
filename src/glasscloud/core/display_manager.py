"""Display arbitration: which App's content the glasses' `main` view shows, and when.

The manager keeps one *desired state* and one outbound pipeline. Every event (a request, an
App start or stop, a timer) re-runs `_choose()`, which names what the main view should show
now; `_reconcile()` sends it when it differs from what the glasses show, at most once per
`display_throttle`. Because only the choice made at send time is ever sent:

- an App's pending request is simply its latest content (one slot per App, newest wins), so
  nothing stale is sent after newer content of the same App;
- a stopped App's content is forgotten at once and can never be sent;
- lock and ownership rules are applied when something is actually sent;
- the spacing between two main-view sends is global, not per App;
- lock expiry and content expiry are timers that re-run the choice, so an idle lock holder
  never blocks the others.

Order of choice (docs/display.md says where it differs from the reference cloud):
1. while Apps start: the boot screen;
2. the background lock holder's content while the lock is valid;
3. pending requests (never shown yet): the main App's first, then the longest waiting;
4. the main App's content (kept even without `durationMs`: the main App owns the view);
5. what is on screen, if still valid;
6. other still-valid content (interrupted by a boot screen first, then the newest);
7. otherwise a clear.

Dashboard-view content goes through `core.dashboard.Dashboard` and is never throttled.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from glasscloud.core.clock import TimerHandle
from glasscloud.core.dashboard_view import DashboardView
from glasscloud.core.display import DisplayContext
from glasscloud.core.display_content import (
    CLEAR,
    EPS,
    BootScreen,
    Content,
    DisplayLock,
    StartedApp,
    Target,
)
from glasscloud.protocol import glasses as glasses_wire
from glasscloud.protocol.errors import ProtocolError

log = logging.getLogger("glasscloud.display")

DEFAULT_DASHBOARD_PACKAGE = "system.augmentos.dashboard"
class DisplayManager:
    """Per-session display arbitration and dashboard (the session's display object)."""

    def __init__(
        self, ctx: DisplayContext, dashboard_package: str = DEFAULT_DASHBOARD_PACKAGE
    ) -> None:
        self.ctx = ctx
        self.t = ctx.timings
        self.dashboard_package = dashboard_package
        self.apps: dict[str, StartedApp] = {}  # started and not stopped
        self.main_app: str | None = None
        self.latest: dict[str, Content] = {}  # each App's current main-view content
        self.booting: set[str] = set()
        self._boot_names: list[str] = []  # Apps of the current boot screen, in start order
        self.lock: DisplayLock | None = None
        self.screen: Content | BootScreen | str | None = None  # what the glasses show
        self.last_main_send: float | None = None
        self._resend = False
        self._wake: TimerHandle | None = None
        self._wake_at: float | None = None
        self._seq = itertools.count()
        self.dashboard_view = DashboardView(ctx, dashboard_package)
        self.dashboard = self.dashboard_view.dashboard
        self.disposed = False

    # ---- the session's interface -----------------------------------------------------

    def app_starting(self, package_name: str, name: str, boot_screen: bool = True) -> None:
        """An App start began: boot screen for `boot_duration` (not for the dashboard App,
        nor for a restart or resume: `boot_screen` False). A known App starts afresh."""
        if self.disposed:
            return
        self._forget(package_name)
        self.apps[package_name] = StartedApp(name or package_name, next(self._seq))
        if self.ctx.app_type(package_name) == "standard":
            self.main_app = package_name
        if boot_screen and package_name != self.dashboard_package:
            self.booting.add(package_name)
            label = name or package_name
            if label not in self._boot_names:
                self._boot_names.append(label)
            self.apps[package_name].boot_timer = self.ctx.clock.call_later(
                self.t.boot_duration, lambda: self._boot_done(package_name)
            )
        self._reconcile()

    def app_stopped(self, package_name: str) -> None:
        """The App's content, pending request, boot entry, lock and dashboard items go at
        once; the main view moves on to the next valid content, or is cleared."""
        if self.disposed or package_name not in self.apps:
            return
        self._forget(package_name)
        self.dashboard.remove_app(package_name)
        self._reconcile()
        self.ctx.on_change()

    def show(self, package_name: str, request: dict[str, Any]) -> str:
        """A validated `display_event` of a running App. Returns what happened:
        `displayed`, `pending` (throttled, held during boot or waiting for the lock),
        `cleared`, `dashboard` or `rejected`."""
        if self.disposed or package_name not in self.apps or not self.ctx.is_running(package_name):
            log.info(
                "display from an App that is not running was rejected",
                extra={"userId": self.ctx.user_id, "packageName": package_name},
            )
            return "rejected"
        layout = request["layout"]
        if (request.get("view") or "main") == "dashboard":
            shown = self.dashboard_view.show(package_name, layout)
            self.ctx.on_change()
            return shown
        now = self.ctx.clock.now()
        previous = self.latest.get(package_name)
        if layout.get("layoutType") == "clear_view":
            # The App withdraws its content; the glasses get our clear (or the next content).
            self.latest.pop(package_name, None)
            self._reconcile()
            self.ctx.on_change()
            return "cleared"
        waiting = previous is not None and previous.shown_at is None
        content = Content(
            package_name,
            layout,
            request.get("durationMs"),
            next(self._seq),
            previous.pending_since if waiting and previous else now,
        )
        self.latest[package_name] = content
        if not self.booting and package_name != self.main_app:
            self._claim_lock(package_name, now)
        self._reconcile()
        self.ctx.on_change()
        return "displayed" if self.screen is content else "pending"

    def app_message(
        self, package_name: str, kind: str, obj: dict[str, Any]
    ) -> ProtocolError | None:
        """`dashboard_*` messages (already validated by protocol.app)."""
        if self.disposed:
            return None
        error = self.dashboard_view.app_message(package_name, kind, obj, list(self.apps))
        if kind == "dashboard_content_update":
            self.ctx.on_change()
        return error

    def saved_state(self) -> dict[str, dict[str, Any]]:
        """What each App shows, to be shown again after a restart: its persistent main-view
        content (not content with a duration, which would be stale) and its dashboard
        items."""
        state: dict[str, dict[str, Any]] = {}
        for package_name in self.apps:
            entry: dict[str, Any] = {}
            content = self.latest.get(package_name)
            if content is not None and content.duration_ms is None:
                entry["main"] = content.layout
            items = self.dashboard.items_of(package_name)
            if items:
                entry["dashboard"] = items
            if entry:
                state[package_name] = entry
        return state

    def restore_state(self, package_name: str, saved: dict[str, Any]) -> None:
        """Show again what a resumed App showed before a restart (`saved_state`)."""
        if self.disposed or package_name not in self.apps:
            return
        items = saved.get("dashboard")
        if isinstance(items, dict):
            for mode, text in items.items():
                if isinstance(mode, str) and isinstance(text, str):
                    self.dashboard.write(package_name, text, [mode])
        layout = saved.get("main")
        if isinstance(layout, dict) and package_name not in self.latest:
            now = self.ctx.clock.now()
            self.latest[package_name] = Content(package_name, layout, None, next(self._seq), now)
            self._reconcile()

    def head_position(self, position: str) -> None:
        if position == "up" and not self.disposed:
            self.dashboard.head_up()

    def glasses_connected(self) -> None:
        """After a (re)connect the glasses get the main view (through the throttle) and the
        dashboard (at once) again: nothing is lost across a reconnect."""
        if self.disposed:
            return
        self.dashboard_view.replay()
        if self.screen is not None:
            self._resend = True
            self._reconcile()

    def dispose(self) -> None:
        self.disposed = True
        for app in self.apps.values():
            if app.boot_timer is not None:
                app.boot_timer.cancel()
        self._cancel_wake()
        self.apps.clear()
        self.latest.clear()
        self.booting.clear()
        self.lock = None

    # ---- state helpers ---------------------------------------------------------------

    def lock_holder(self) -> str | None:
        """The background App holding the display lock now, if its lock is still valid."""
        self._check_lock()
        return self.lock.holder if self.lock is not None else None

    def pending(self, package_name: str) -> Content | None:
        """The App's request that has not reached the glasses yet, if any."""
        content = self.latest.get(package_name)
        return content if content is not None and content.shown_at is None else None

    def _forget(self, package_name: str) -> None:
        app = self.apps.pop(package_name, None)
        if app is not None and app.boot_timer is not None:
            app.boot_timer.cancel()
        self.latest.pop(package_name, None)
        if package_name in self.booting:
            self.booting.discard(package_name)
            label = app.name if app is not None else package_name
            if label in self._boot_names:
                self._boot_names.remove(label)
            if not self.booting:
                self._boot_names.clear()
        if self.lock is not None and self.lock.holder == package_name:
            self.lock = None
        if self.main_app == package_name:
            # The standard App started before it (still running) owns the view again.
            standard = [p for p in self.apps if self.ctx.app_type(p) == "standard"]
            self.main_app = max(standard, key=lambda p: self.apps[p].started, default=None)

    def _boot_done(self, package_name: str) -> None:
        app = self.apps.get(package_name)
        if app is not None:
            app.boot_timer = None
        self.booting.discard(package_name)
        if not self.booting:
            self._boot_names.clear()
        self._reconcile()

    def _reached(self, deadline: float) -> bool:
        return self.ctx.clock.now() >= deadline - EPS

    def _valid(self, content: Content) -> bool:
        """Whether the content may be (or stay) on the main view now."""
        if content.package_name not in self.apps:
            return False
        if self.latest.get(content.package_name) is not content:
            return False
        if content.shown_at is None:
            return True
        expires = content.expires_at()
        if expires is not None:
            return not self._reached(expires)
        if content is self.screen:
            return True  # persistent (or durationMs 0) content stays until replaced
        if content.duration_ms == 0:
            return False  # shown once, consumed
        return (
            content.package_name == self.main_app
            or content.interrupted
            or not self._reached(content.shown_at + self.t.min_display_lifetime)
        )

    # ---- background lock -------------------------------------------------------------

    def _lock_deadline(self) -> float | None:
        """When the lock stops being valid, if nothing happens before."""
        lock = self.lock
        if lock is None:
            return None
        held = self.latest.get(lock.holder)
        idle_end = lock.last_active + self.t.display_lock_inactive
        if held is not None and held is self.screen and (expires := held.expires_at()):
            # a display with an explicit duration keeps the lock for that duration
            idle_end = max(idle_end, expires)
        return min(lock.expires_at, idle_end)

    def _check_lock(self) -> None:
        lock = self.lock
        if lock is None:
            return
        held = self.latest.get(lock.holder)
        deadline = self._lock_deadline()
        if (
            lock.holder not in self.apps
            or held is None
            or not self._valid(held)
            or (deadline is not None and self._reached(deadline))
        ):
            self.lock = None

    def _claim_lock(self, package_name: str, now: float) -> None:
        """A background App's request takes the free lock, or refreshes its own (the
        lifetime is not extended, as in the reference cloud)."""
        self._check_lock()
        if self.lock is None:
            self.lock = DisplayLock(package_name, now + self.t.display_lock, now)
        elif self.lock.holder == package_name:
            self.lock.last_active = now

    # ---- choice ----------------------------------------------------------------------

    def _choose(self) -> Target:
        if self.booting:
            return BootScreen(tuple(self._boot_names))
        self._check_lock()
        if self.lock is not None:
            held = self.latest.get(self.lock.holder)
            if held is not None and self._valid(held):
                return held
            self.lock = None
        live = [c for c in self.latest.values() if self._valid(c)]
        waiting = [c for c in live if c.shown_at is None]
        if waiting:
            main_first = [c for c in waiting if c.package_name == self.main_app]
            return main_first[0] if main_first else min(waiting, key=lambda c: c.pending_since)
        main = self.latest.get(self.main_app) if self.main_app else None
        if main is not None and self._valid(main):
            return main
        if isinstance(self.screen, Content) and self._valid(self.screen):
            return self.screen
        if live:
            return max(live, key=lambda c: (c.interrupted, c.shown_at or 0.0, c.seq))
        return None

    def _is_shown(self, target: Target) -> bool:
        if self._resend:
            return False
        if target is None:
            return self.screen is None or self.screen == CLEAR
        if isinstance(target, BootScreen):
            return self.screen == target
        return self.screen is target

    # ---- the pipeline ----------------------------------------------------------------

    def _reconcile(self) -> None:
        """Make the glasses show `_choose()`, no sooner than the throttle allows."""
        if self.disposed:
            return
        target = self._choose()
        if self._is_shown(target):
            self._arm_wake(None)
            return
        if target is None and self.screen is None:
            self._resend = False
            self._arm_wake(None)
            return
        if self.last_main_send is not None:
            window_end = self.last_main_send + self.t.display_throttle
            if not self._reached(window_end):
                self._arm_wake(window_end)
                return
        self._send_main(target)
        # Something else may already be waiting (another App's pending request): its turn
        # comes when this send's window ends.
        after = self._choose()
        window_end = self.ctx.clock.now() + self.t.display_throttle
        self._arm_wake(None if self._is_shown(after) else window_end)

    def _send_main(self, target: Target) -> None:
        now = self.ctx.clock.now()
        ts = self.ctx.timestamp()
        self._resend = False
        if isinstance(target, BootScreen):
            if isinstance(self.screen, Content):
                self.screen.interrupted = True
            frame = glasses_wire.display_event(
                self.dashboard_package, "main", target.layout(), None, ts
            )
            self.screen = target
        elif target is None:
            frame = glasses_wire.display_event(
                self.dashboard_package, "main", {"layoutType": "text_wall", "text": ""}, 0, ts
            )
            self.screen = CLEAR
        else:
            duration = target.duration_ms
            if target.shown_at is None:
                target.shown_at = now
            elif (expires := target.expires_at()) is not None:
                duration = max(0, round((expires - now) * 1000))  # what is left of it
            target.interrupted = False
            frame = glasses_wire.display_event(
                target.package_name, "main", target.layout, duration, ts
            )
            if target.package_name == self.main_app:
                self.lock = None
            elif target is not self.screen:  # a replay after a reconnect is no activity
                self._claim_lock(target.package_name, now)
            self.screen = target
        self.last_main_send = now
        self.ctx.send_to_glasses(frame)

    def _arm_wake(self, at: float | None) -> None:
        """One timer for everything time-based: the throttle window, the on-screen
        content's expiry and the lock's end. Each firing re-runs the choice."""
        candidates = [at] if at is not None else []
        if isinstance(self.screen, Content) and (expires := self.screen.expires_at()):
            candidates.append(expires)
        if (deadline := self._lock_deadline()) is not None:
            candidates.append(deadline)
        now = self.ctx.clock.now()
        future = [c for c in candidates if c > now + EPS]
        when = min(future) if future else None
        if when == self._wake_at and self._wake is not None:
            return
        self._cancel_wake()
        if when is not None:
            self._wake_at = when
            self._wake = self.ctx.clock.call_later(when - now, self._woken)

    def _woken(self) -> None:
        self._wake = None
        self._wake_at = None
        self._reconcile()

    def _cancel_wake(self) -> None:
        if self._wake is not None:
            self._wake.cancel()
        self._wake = None
        self._wake_at = None
