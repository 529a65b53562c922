"""Resume after a restart, in every ordering, on a driven clock (docs/decisions.md, "Resume
after a restart is one rule"). Each ordering must end in the same observable state: the App
running in the lifecycle, the display manager and the subscriptions, its last main view and
dashboard item shown again, and exactly one `app_state_change` saying it runs."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.registry import SessionRegistry
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.glasses import decode_glasses_message
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

USER = "carol@example.com"
PKG = "com.example.captions"
RECORD = app_record(PKG, "standard", ("MICROPHONE",))
WINDOW = 8.0  # Timings.app_resume_window
SAVED = {
    PKG: {
        "main": {"layoutType": "text_wall", "text": "last caption"},
        "dashboard": {"main": "captions: on"},
    }
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def effects() -> RecordingEffects:
    return RecordingEffects()


def new_process(clock: ManualClock, effects: RecordingEffects, resumable: bool = True):
    """A freshly started process whose predecessor just went away."""
    services = SessionServices(
        clock, effects, Timings(), resume_until=clock.now() + WINDOW if resumable else None
    )
    return SessionRegistry(services)


def open_session(registry: SessionRegistry, records=None, saved=None) -> UserSession:
    session, created = registry.get_or_create(USER)
    assert created
    session.restore(records or [RECORD], SAVED if saved is None else saved)
    return session


def reconnect_app(session: UserSession, name: str = "app") -> RecordingConnection:
    conn = RecordingConnection(name)
    assert session.bind_app(RECORD, conn, {}) is None
    subscribe(session, conn, ["transcription:en-US"])  # the SDK re-sends its subscriptions
    return conn


def subscribe(session, conn, subs) -> None:
    session.handle_app_text(
        conn, json.dumps({"type": "subscription_update", "subscriptions": subs})
    )


def draw(session, conn, text) -> None:
    layout = {"layoutType": "text_wall", "text": text}
    session.handle_app_text(
        conn, json.dumps({"type": "display_event", "view": "main", "layout": layout})
    )


def running_changes(glasses: RecordingConnection) -> list[dict]:
    return [
        m
        for m in glasses.messages("app_state_change")
        if m.get("packageName") == PKG and m.get("state") == "running"
    ]


def main_texts(glasses: RecordingConnection) -> list[str]:
    return [
        m["layout"].get("text", "")
        for m in glasses.messages("display_event")
        if m["view"] == "main"
    ]


def assert_resumed(session, clock, glasses, app) -> None:
    """The one end state every ordering must reach."""
    clock.advance(1.0)  # past the display throttle
    assert session.app_state(PKG) == "running"
    assert session.display.ctx.is_running(PKG) and PKG in session.display.apps
    assert session.subscriptions.as_map()[PKG] == ["transcription:en-US"]
    assert "last caption" in main_texts(glasses)
    dashboards = [m for m in glasses.messages("display_event") if m["view"] == "dashboard"]
    assert "captions: on" in dashboards[-1]["layout"]["bottomText"]
    assert len(running_changes(glasses)) == 1
    assert not [m for m in glasses.messages("app_state_change") if m.get("state") == "stopped"]
    # and the App works: what it draws now reaches the glasses
    draw(session, app, "new caption")
    clock.advance(1.0)
    assert main_texts(glasses)[-1] == "new caption"
    # a transcription reaches it
    session.router.deliver_transcription(
        {
            "type": "transcription",
            "text": "hi",
            "isFinal": True,
            "transcribeLanguage": "en-US",
            "startTime": 0,
            "endTime": 1,
            "speakerId": "0",
        }
    )
    assert app.messages("data_stream")[-1]["data"]["text"] == "hi"


def test_app_reconnects_before_the_glasses(clock, effects):
    session = open_session(new_process(clock, effects))
    clock.advance(1.0)
    app = reconnect_app(session)
    assert effects.starts == []  # no webhook: the same App session carries on
    clock.advance(2.0)
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    assert glasses.messages("connection_ack")[0]["userSession"]["activeAppSessions"] == [PKG]
    assert_resumed(session, clock, glasses, app)
    clock.advance(WINDOW * 2)
    assert effects.starts == []


def test_app_reconnects_after_the_glasses(clock, effects):
    session = open_session(new_process(clock, effects))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    ack = glasses.messages("connection_ack")[0]["userSession"]
    assert ack["loadingApps"] == [PKG] and ack["activeAppSessions"] == []
    clock.advance(3.0)
    assert effects.starts == []  # still waiting for the App's own reconnect
    app = reconnect_app(session)
    assert_resumed(session, clock, glasses, app)
    clock.advance(WINDOW * 2)
    assert effects.starts == []


def test_app_that_does_not_reconnect_is_asked_by_webhook_when_the_window_ends(clock, effects):
    session = open_session(new_process(clock, effects))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    clock.advance(WINDOW - 0.01)
    assert effects.starts == []
    clock.advance(0.02)
    assert [s.app.package_name for s in effects.starts] == [PKG]
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = reconnect_app(session)
    # no boot screen over the restored captions, and no second "loading" for the glasses
    assert not [t for t in main_texts(glasses) if "Starting App" in t]
    assert not [m for m in glasses.messages("app_state_change") if m.get("state") == "loading"]
    assert_resumed(session, clock, glasses, app)


def test_glasses_that_come_after_the_window_start_the_app_by_webhook(clock, effects):
    session = open_session(new_process(clock, effects))
    clock.advance(WINDOW + 5)
    assert effects.starts == []  # nobody to show it to yet
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    assert [s.app.package_name for s in effects.starts] == [PKG]
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = reconnect_app(session)
    assert_resumed(session, clock, glasses, app)


def test_a_new_session_outside_any_restart_starts_at_once(clock, effects):
    registry = new_process(clock, effects, resumable=False)
    session = open_session(registry)
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    assert [s.app.package_name for s in effects.starts] == [PKG]
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = reconnect_app(session)
    assert_resumed(session, clock, glasses, app)


def test_session_ended_during_the_window_does_not_wait_for_apps_next_time(clock, effects):
    """This process told the Apps the session ended: they will not reconnect by themselves."""
    registry = new_process(clock, effects)
    session = open_session(registry)
    reconnect_app(session)
    clock.advance(Timings().glasses_grace + 0.1)  # the glasses never came back
    assert session.disposed
    again = open_session(registry)
    glasses = RecordingConnection("glasses")
    again.attach_glasses(glasses)
    assert [s.app.package_name for s in effects.starts] == [PKG]


def test_glasses_never_return_ends_the_session_and_keeps_the_apps(clock, effects):
    session = open_session(new_process(clock, effects))
    app = reconnect_app(session)
    clock.advance(Timings().glasses_grace + 0.1)
    assert session.disposed
    assert app.closed == (1000, "User session ended")
    assert effects.stops == []
    assert effects.running.get(USER, [PKG]) == [PKG]  # never removed
    assert clock.pending == 0


@pytest.mark.parametrize(
    "outcome",
    [
        WebhookOutcome(False, None, "App server unreachable", retryable=True),
        WebhookOutcome(False, 503, "HTTP 503", retryable=True),
        WebhookOutcome(False, None, "no answer within 10 s", retryable=True),
    ],
    ids=["down", "5xx", "slow"],
)
def test_app_server_failing_after_the_window_retries_then_reports_crashed(clock, effects, outcome):
    session = open_session(new_process(clock, effects))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    clock.advance(WINDOW + 0.1)
    for _ in range(40):
        pending = [s for s in effects.starts if not getattr(s, "answered", False)]
        for call in pending:
            call.answered = True
            call.on_outcome(outcome)
        clock.advance(1.0)
        if session.app_state(PKG) is None:
            break
    assert session.app_state(PKG) is None
    stopped = [m for m in glasses.messages("app_state_change") if m.get("state") == "stopped"]
    assert len(stopped) == 1 and stopped[0]["reason"] == "crashed"
    assert running_changes(glasses) == []
    assert effects.running[USER] == []
    assert PKG not in session.display.apps


def test_app_server_answering_after_a_failure_brings_the_app_back(clock, effects):
    session = open_session(new_process(clock, effects))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    clock.advance(WINDOW + 0.1)
    effects.starts[-1].on_outcome(WebhookOutcome(False, 502, "HTTP 502", retryable=True))
    clock.advance(Timings().webhook_retry_delay)
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = reconnect_app(session)
    assert_resumed(session, clock, glasses, app)


def test_a_second_restart_during_recovery_keeps_the_app(clock, effects):
    session = open_session(new_process(clock, effects))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    # the process dies before the App came back: the persisted list still names it
    assert effects.running.get(USER, [PKG]) == [PKG]
    clock2 = ManualClock()
    again = open_session(new_process(clock2, effects))
    glasses2 = RecordingConnection("glasses2")
    again.attach_glasses(glasses2)
    app = reconnect_app(again)
    assert_resumed(again, clock2, glasses2, app)


@pytest.mark.parametrize("when", ["before_glasses", "after_glasses", "after_window"])
def test_user_stopping_mid_recovery_is_final(clock, effects, when):
    session = open_session(new_process(clock, effects))
    glasses = RecordingConnection("glasses")
    if when != "before_glasses":
        session.attach_glasses(glasses)
    if when == "after_window":
        clock.advance(WINDOW + 0.1)
    starts_before = len(effects.starts)
    assert session.stop_app(PKG)
    assert [s.app.package_name for s in effects.stops] == [PKG]  # the App server lets go
    assert effects.running[USER] == []
    late = RecordingConnection("late")
    error = session.bind_app(RECORD, late, {})
    assert error is not None and error.code == "APP_NOT_STARTED"
    clock.advance(WINDOW * 3)
    if when == "before_glasses":
        session.attach_glasses(glasses)
    assert session.app_state(PKG) is None
    assert running_changes(glasses) == []
    assert len(effects.starts) == starts_before  # nothing asks for it again


def test_last_view_is_saved_while_the_app_draws(clock, effects):
    session = open_session(new_process(clock, effects, resumable=False), saved={})
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = reconnect_app(session)
    draw(session, app, "hello there")
    session.handle_app_text(
        app, json.dumps({"type": "dashboard_content_update", "content": "item", "modes": ["main"]})
    )
    assert effects.resumes == {}  # coalesced: not on every frame
    clock.advance(Timings().display_save_delay)
    saved = effects.resumes[USER][PKG]
    assert saved["main"]["text"] == "hello there"
    assert saved["dashboard"] == {"main": "item"}
    assert saved["subscriptions"] == ["transcription:en-US"]
    session.stop_app(PKG)  # a stopped App's view is not shown again
    clock.advance(Timings().display_save_delay)
    assert PKG not in effects.resumes[USER]


def test_a_resumed_app_receives_what_it_subscribed_to_before_it_subscribes_again(clock, effects):
    """The SDK re-sends its subscriptions a moment after the ack: nothing is lost meanwhile."""
    saved = {PKG: {**SAVED[PKG], "subscriptions": ["button_press"]}}
    session = open_session(new_process(clock, effects), saved=saved)
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    app = RecordingConnection("app")
    assert session.bind_app(RECORD, app, {}) is None
    session.handle_glasses_message(
        decode_glasses_message(
            json.dumps({"type": "button_press", "buttonId": "main", "pressType": "short"})
        )
    )
    assert [m["streamType"] for m in app.messages("data_stream")] == ["button_press"]
