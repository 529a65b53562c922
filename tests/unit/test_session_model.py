"""A model-based test of one user's session across glasses, Apps, restarts and time.

Hypothesis drives random sequences of: glasses connect/close, an App's socket connect/close,
the process restarting, the user starting/stopping Apps, webhook answers and the clock; after
every step the invariants below must hold. The shell's part (opening a session from what is
persisted, as `server/sessions.py` does) is reproduced in `_open_session`.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from glasscloud.core.apps import AppSlot
from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.registry import SessionRegistry
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

USER = "model@example.com"
RECORDS = {
    "com.main": app_record("com.main", "standard", ("MICROPHONE",)),
    "com.side": app_record("com.side", "background", ("MICROPHONE",)),
}
PACKAGES = st.sampled_from(sorted(RECORDS))
OUTCOMES = st.sampled_from(
    [
        WebhookOutcome(True, 200),
        WebhookOutcome(False, 503, "HTTP 503", retryable=True),
        WebhookOutcome(False, None, "unreachable", retryable=True),
        WebhookOutcome(False, 404, "HTTP 404"),
    ]
)


class SessionModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.effects = RecordingEffects()
        self.stopped_by_user: set[str] = set()
        self.seen_slots: list[AppSlot] = []
        self._new_process(resumable=False)

    # ---- the world -------------------------------------------------------------------

    def _new_process(self, resumable: bool) -> None:
        self.clock = ManualClock()
        until = self.clock.now() + Timings().app_resume_window if resumable else None
        self.registry = SessionRegistry(
            SessionServices(self.clock, self.effects, Timings(), resume_until=until)
        )
        self.glasses: RecordingConnection | None = None
        self.app_conns: dict[str, RecordingConnection] = {}
        self.seen_slots = []
        # A process that died answers nothing more: only this process's webhooks get answers.
        self.answered = len(self.effects.starts)
        self.stops_done = len(self.effects.stops)

    @property
    def session(self) -> UserSession | None:
        return self.registry.get(USER)

    def _open_session(self, for_app: str | None = None) -> UserSession | None:
        session = self.session
        if session is not None:
            return session
        running = self.effects.running.get(USER, [])
        if for_app is not None and for_app not in running:
            return None
        session, _ = self.registry.get_or_create(USER)
        session.restore([RECORDS[p] for p in running], self.effects.resumes.get(USER, {}))
        return session

    # ---- rules -----------------------------------------------------------------------

    @rule()
    def glasses_connect(self) -> None:
        session = self._open_session()
        assert session is not None
        self.glasses = RecordingConnection("glasses")
        session.attach_glasses(self.glasses)

    @rule()
    def glasses_close(self) -> None:
        if self.glasses is not None and self.session is not None:
            self.session.glasses_closed(self.glasses)
        self.glasses = None

    @rule(package=PACKAGES)
    def app_connects(self, package: str) -> None:
        """The App's socket arrives (after a webhook, or the SDK reconnecting by itself)."""
        session = self._open_session(for_app=package)
        if session is None:
            return
        conn = RecordingConnection(package)
        if session.bind_app(RECORDS[package], conn, {}) is None:
            self.app_conns[package] = conn
            session.handle_app_text(
                conn,
                json.dumps(
                    {"type": "subscription_update", "subscriptions": ["transcription:en-US"]}
                ),
            )

    @rule(package=PACKAGES)
    def app_socket_lost(self, package: str) -> None:
        conn = self.app_conns.pop(package, None)
        if conn is not None and self.session is not None:
            self.session.app_closed(conn, 1006)

    @rule(package=PACKAGES, text=st.sampled_from(["one", "two", "three"]))
    def app_draws(self, package: str, text: str) -> None:
        conn = self.app_conns.get(package)
        session = self.session
        if conn is None or conn.closed is not None or session is None:
            return
        slot = session.apps.get(package)
        layout = {"layoutType": "text_wall", "text": text}
        session.handle_app_text(
            conn, json.dumps({"type": "display_event", "view": "main", "layout": layout})
        )
        if slot is not None and slot.live:
            # A running App's display is taken (never "rejected"): the arbitration decides
            # when it is shown, not whether.
            assert session.display.latest[package].layout == layout

    @rule(resumable=st.booleans())
    def process_restarts(self, resumable: bool) -> None:
        """kill -9 or a deploy: every socket is gone; persisted state is what is left."""
        if resumable and self.session is not None:
            self.session.save_resume_state()  # a graceful stop saves what is shown
        self._new_process(resumable)

    @rule(package=PACKAGES)
    def user_starts(self, package: str) -> None:
        session = self._open_session()
        assert session is not None
        session.start_app(RECORDS[package])
        self.stopped_by_user.discard(package)

    @rule(package=PACKAGES)
    def user_stops(self, package: str) -> None:
        session = self.session
        if session is not None and session.app_state(package) is not None:
            session.stop_app(package)
            self.stopped_by_user.add(package)

    @rule(outcome=OUTCOMES)
    def webhook_answers(self, outcome: WebhookOutcome) -> None:
        if self.answered < len(self.effects.starts):
            call = self.effects.starts[self.answered]
            self.answered += 1
            call.on_outcome(outcome)

    @rule()
    def stop_webhooks_answer(self) -> None:
        while self.stops_done < len(self.effects.stops):
            self.effects.stops[self.stops_done].on_done()
            self.stops_done += 1

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 3.0, 9.0, 61.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    # ---- invariants ------------------------------------------------------------------

    @invariant()
    def running_in_every_part_or_none(self) -> None:
        session = self.session
        if session is None:
            return
        subs = session.subscriptions.as_map()
        for package in RECORDS:
            slot = session.apps.get(package)
            if slot is None:
                assert package not in session.display.apps
                assert package not in subs
                assert session.display.dashboard.items_of(package) == {}
                continue
            if slot.active:
                assert package in session.display.apps
            if slot.state.value == "running":
                assert session.display.ctx.is_running(package)
            if package in subs:
                assert slot.active

    @invariant()
    def a_stopped_app_never_comes_back(self) -> None:
        session = self.session
        for package in self.stopped_by_user:
            assert package not in self.effects.running.get(USER, [])
            if session is not None:
                assert session.app_state(package) is None

    @invariant()
    def no_timer_outlives_its_app(self) -> None:
        session = self.session
        if session is None:
            # the session ended (or never began) in this process: nothing may still tick
            assert self.clock.pending == 0
            return
        for slot in session.apps.values():
            if slot not in self.seen_slots:
                self.seen_slots.append(slot)
        for slot in self.seen_slots:
            if session.apps.get(slot.package_name) is not slot:
                assert (slot.start_timer, slot.grace_timer, slot.retry_timer) == (None,) * 3


SessionModel.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_session_model = SessionModel.TestCase
