"""The user session state machine, driven by a ManualClock (no sleeps, no sockets)."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import StartResult, WebhookOutcome
from glasscloud.core.registry import SessionRegistry
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.glasses import decode_glasses_message
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

USER = "alice-smith@example.com"  # a hyphen in the user id must not break anything


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def effects() -> RecordingEffects:
    return RecordingEffects()


@pytest.fixture
def session(clock, effects) -> UserSession:
    return UserSession(USER, SessionServices(clock, effects, Timings()))


@pytest.fixture
def glasses(session) -> RecordingConnection:
    conn = RecordingConnection("glasses")
    session.attach_glasses(conn)
    return conn


def init(text_or_obj) -> str:
    return text_or_obj if isinstance(text_or_obj, str) else json.dumps(text_or_obj)


def start_and_bind(session, effects, record, name="app") -> RecordingConnection:
    results: list[StartResult] = []
    session.start_app(record, results.append)
    call = effects.starts[-1]
    call.on_outcome(WebhookOutcome(True, 200))
    conn = RecordingConnection(name)
    assert session.bind_app(record, conn, {}) is None
    assert results == [StartResult(True, record.package_name)]
    return conn


def glasses_event(session, obj) -> None:
    session.handle_glasses_message(decode_glasses_message(json.dumps(obj)))


def subscribe(session, conn, subs) -> None:
    session.handle_app_text(
        conn, json.dumps({"type": "subscription_update", "subscriptions": subs})
    )


# ---- glasses connection ---------------------------------------------------------------


def test_exactly_one_connection_ack_sent_at_once(session, glasses):
    acks = glasses.messages("connection_ack")
    assert len(acks) == 1
    assert acks[0]["sessionId"] == USER
    assert acks[0]["userSession"]["activeAppSessions"] == []
    glasses_event(session, {"type": "connection_init", "coreToken": "x"})
    assert len(glasses.messages("connection_ack")) == 1


def test_ack_is_not_delayed_by_starting_apps(session, effects):
    session.start_app(app_record())
    conn = RecordingConnection("glasses")
    session.attach_glasses(conn)
    ack = conn.messages("connection_ack")[0]
    assert ack["userSession"]["loadingApps"] == ["com.example.app"]


def test_glasses_reconnect_within_grace_resumes_same_session(session, effects, glasses, clock):
    app = start_and_bind(session, effects, app_record())
    session.glasses_closed(glasses)
    clock.advance(59.0)
    again = RecordingConnection("glasses2")
    session.attach_glasses(again)
    clock.advance(120.0)
    assert not session.disposed
    assert app.closed is None
    assert again.messages("connection_ack")[0]["userSession"]["activeAppSessions"] == [
        "com.example.app"
    ]


def test_glasses_grace_expiry_disposes_and_tells_apps(session, effects, glasses, clock):
    app = start_and_bind(session, effects, app_record())
    session.glasses_closed(glasses)
    clock.advance(59.9)
    assert not session.disposed
    clock.advance(0.2)
    assert session.disposed
    assert app.messages()[-1]["type"] == "app_stopped"
    assert app.closed == (1000, "User session ended")
    assert effects.stops == []  # the SDK's onStop runs on that close; Apps return next time
    assert effects.running[USER] == ["com.example.app"]


def test_late_close_of_replaced_glasses_socket_is_ignored(session, glasses, clock):
    newer = RecordingConnection("newer")
    session.attach_glasses(newer)
    assert glasses.closed == (1000, "Replaced by a newer connection")
    session.glasses_closed(glasses)  # the old socket's close arrives late
    clock.advance(3600)
    assert not session.disposed
    assert session.glasses is newer


# ---- App lifecycle --------------------------------------------------------------------


def test_start_sends_webhook_and_reports_loading_then_running(session, effects, glasses):
    record = app_record()
    conn = start_and_bind(session, effects, record)
    assert effects.starts[0].app_session_id == f"{USER}-com.example.app"
    states = [m.get("state") for m in glasses.messages("app_state_change")]
    assert states == ["loading", "running"]
    ack = conn.messages("tpa_connection_ack")[0]
    assert ack["sessionId"] == f"{USER}-com.example.app"
    assert ack["mentraosSettings"] == ack["augmentosSettings"]
    assert ack["capabilities"]["modelName"]
    assert effects.running[USER] == ["com.example.app"]


def test_start_times_out_and_glasses_are_told(session, effects, glasses, clock):
    results = []
    session.start_app(app_record(), results.append)
    effects.starts[0].on_outcome(WebhookOutcome(True, 200))
    clock.advance(4.9)
    assert results == []
    clock.advance(0.2)
    assert results[0].stage == "TIMEOUT" and not results[0].success
    last = glasses.messages("app_state_change")[-1]
    assert last["state"] == "stopped"
    assert last["error"]["stage"] == "TIMEOUT"
    assert last["userSession"]["loadingApps"] == []
    late = RecordingConnection("late")
    error = session.bind_app(app_record(), late, {})
    assert error is not None and error.code == "APP_NOT_STARTED"


def test_unreachable_webhook_is_retried_once_then_fails(session, effects, glasses, clock):
    results = []
    session.start_app(app_record(), results.append)
    effects.starts[0].on_outcome(WebhookOutcome(False, None, "refused", retryable=True))
    assert len(effects.starts) == 1
    clock.advance(1.0)
    assert len(effects.starts) == 2
    effects.starts[1].on_outcome(WebhookOutcome(False, 503, "HTTP 503", retryable=True))
    assert results[0].stage == "WEBHOOK"
    assert "HTTP 503" in results[0].message
    assert glasses.messages("app_state_change")[-1]["error"]["stage"] == "WEBHOOK"


def test_webhook_4xx_fails_at_once(session, effects):
    results = []
    session.start_app(app_record(), results.append)
    effects.starts[0].on_outcome(WebhookOutcome(False, 404, "HTTP 404", retryable=False))
    assert results[0].stage == "WEBHOOK"
    assert len(effects.starts) == 1


def test_concurrent_starts_share_one_webhook(session, effects):
    results = []
    for _ in range(3):
        session.start_app(app_record(), results.append)
    assert len(effects.starts) == 1
    session.bind_app(app_record(), RecordingConnection(), {})
    assert [r.success for r in results] == [True, True, True]


def test_starting_a_standard_app_stops_the_other(session, effects, glasses):
    first = start_and_bind(session, effects, app_record("com.a", app_type="standard"), "a")
    start_and_bind(session, effects, app_record("com.b", app_type="standard"), "b")
    assert [s.app.package_name for s in effects.stops] == ["com.a"]
    assert effects.stops[0].reason == "system_stop"
    effects.stops[0].on_done()
    assert first.closed == (1000, "App stopped")
    assert session.app_state("com.a") is None and session.app_state("com.b") == "running"


def test_background_apps_run_side_by_side(session, effects):
    start_and_bind(session, effects, app_record("com.a"), "a")
    start_and_bind(session, effects, app_record("com.b"), "b")
    assert effects.stops == []


def test_stop_sends_webhook_then_app_stopped_and_close(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    assert session.stop_app("com.example.app")
    assert effects.stops[0].reason == "user_disabled"
    assert app.closed is None  # webhook first
    effects.stops[0].on_done()
    assert app.messages()[-1]["type"] == "app_stopped"
    assert app.closed == (1000, "App stopped")
    assert glasses.messages("app_state_change")[-1]["state"] == "stopped"
    assert effects.running[USER] == []


def test_a_stop_is_never_undone(session, effects, clock):
    app = start_and_bind(session, effects, app_record())
    session.stop_app("com.example.app")
    session.app_closed(app, 1005)  # the SDK closes its own socket after stop_request
    clock.advance(600)
    assert len(effects.starts) == 1
    assert session.app_state("com.example.app") is None


def test_app_reconnect_within_grace_keeps_it_running(session, effects, glasses, clock):
    first = start_and_bind(session, effects, app_record())
    subscribe(session, first, ["button_press"])
    session.app_closed(first, 1006)
    clock.advance(1.0)
    second = RecordingConnection("again")
    assert session.bind_app(app_record(), second, {}) is None
    clock.advance(30)
    assert len(effects.starts) == 1
    glasses_event(session, {"type": "button_press", "buttonId": "main", "pressType": "short"})
    assert second.messages("data_stream")[0]["streamType"] == "button_press"
    assert first.messages("data_stream") == []


def test_app_lost_is_restarted_with_backoff_and_a_limit(session, effects, glasses, clock):
    conn = start_and_bind(session, effects, app_record())
    delays = []
    for attempt in range(3):
        session.app_closed(conn, 1006)
        clock.advance(5.0)  # grace
        before = len(effects.starts)
        waited = 0.0
        while len(effects.starts) == before:
            clock.advance(0.5)
            waited += 0.5
        delays.append(waited)
        effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
        conn = RecordingConnection(f"restart{attempt}")
        assert session.bind_app(app_record(), conn, {}) is None
    assert delays == [1.0, 2.0, 4.0]
    session.app_closed(conn, 1006)
    clock.advance(60)
    assert len(effects.starts) == 4
    last = glasses.messages("app_state_change")[-1]
    assert last["state"] == "stopped" and last["reason"] == "crashed"


def test_late_close_of_replaced_app_socket_is_ignored(session, effects, clock):
    first = start_and_bind(session, effects, app_record())
    second = RecordingConnection("second")
    assert session.bind_app(app_record(), second, {}) is None
    assert first.closed == (1000, "Replaced by a newer connection")
    session.app_closed(first, 1000)
    clock.advance(60)
    assert session.app_state("com.example.app") == "running"
    assert len(effects.starts) == 1


def test_ownership_release_clean_shutdown_is_not_resurrected(session, effects, glasses, clock):
    app = start_and_bind(session, effects, app_record())
    session.handle_app_text(
        app, json.dumps({"type": "ownership_release", "reason": "clean_shutdown"})
    )
    session.app_closed(app, 1005)
    clock.advance(60)
    assert len(effects.starts) == 1
    assert glasses.messages("app_state_change")[-1]["reason"] == "clean_shutdown"


# ---- routing ----------------------------------------------------------------------------


def test_data_stream_echoes_the_exact_subscription_string(session, effects, glasses):
    app = start_and_bind(session, effects, app_record(permissions=("MICROPHONE",)))
    subscribe(
        session,
        app,
        [
            "transcription:fr-FR?no-language-identification=true&hints=en%2Cde",
            "transcription:en-US",
            "touch_event:double_tap",
            "button_press",
        ],
    )
    glasses_event(
        session,
        {
            "type": "local_transcription",
            "text": "bonjour",
            "isFinal": True,
            "transcribeLanguage": "fr-FR",
            "startTime": 0,
            "endTime": 500,
        },
    )
    glasses_event(session, {"type": "touch_event", "gesture_name": "double_tap"})
    glasses_event(session, {"type": "button_press", "buttonId": "main", "pressType": "long"})
    streams = [m["streamType"] for m in app.messages("data_stream")]
    assert streams == [
        "transcription:fr-FR?no-language-identification=true&hints=en%2Cde",
        "touch_event:double_tap",
        "button_press",
    ]
    first = app.messages("data_stream")[0]
    assert first["sessionId"] == f"{USER}-com.example.app"
    assert first["data"]["text"] == "bonjour" and first["data"]["isFinal"] is True
    assert first["data"]["transcribeLanguage"] == "fr-FR"
    button = app.messages("data_stream")[2]["data"]
    assert button == {"type": "button_press", "buttonId": "main", "pressType": "long"}


def test_unsubscribed_streams_are_not_delivered(session, effects):
    app = start_and_bind(session, effects, app_record())
    subscribe(session, app, ["button_press"])
    glasses_event(session, {"type": "head_position", "position": "up"})
    assert app.messages("data_stream") == []


def test_invalid_subscription_entry_is_refused_alone(session, effects):
    app = start_and_bind(session, effects, app_record())
    subscribe(session, app, ["button_press", "foo", "transcription:english"])
    errors = app.messages("tpa_connection_error")
    # One error frame for the update, naming each rejected entry.
    assert [e["field"] for e in errors] == ["subscriptions"]
    assert errors[0]["code"] == "INVALID_SUBSCRIPTION"
    assert "subscriptions[1]" in errors[0]["message"]
    assert "subscriptions[2]" in errors[0]["message"]
    assert app.closed is None
    glasses_event(session, {"type": "button_press", "buttonId": "x", "pressType": "short"})
    assert len(app.messages("data_stream")) == 1


def test_missing_permission_is_reported_and_stream_dropped(session, effects):
    app = start_and_bind(session, effects, app_record())
    subscribe(session, app, ["audio_chunk", "location_update", "button_press"])
    err = app.messages("permission_error")[0]
    assert {d["stream"]: d["requiredPermission"] for d in err["details"]} == {
        "audio_chunk": "MICROPHONE",
        "location_update": "LOCATION",
    }
    session.handle_glasses_audio(b"\x00\x01" * 10)
    assert app.binaries() == []


def test_wildcard_subscriber_gets_only_what_its_permissions_allow(session, effects):
    plain = start_and_bind(session, effects, app_record("com.plain"), "plain")
    mic = start_and_bind(session, effects, app_record("com.mic", permissions=("MICROPHONE",)), "m")
    subscribe(session, plain, ["*"])
    subscribe(session, mic, ["all"])
    session.handle_glasses_audio(b"pcm!")
    glasses_event(session, {"type": "local_transcription", "text": "hi", "isFinal": False})
    glasses_event(session, {"type": "button_press", "buttonId": "a", "pressType": "short"})
    assert plain.binaries() == []
    assert [m["streamType"] for m in plain.messages("data_stream")] == ["button_press"]
    assert mic.binaries() == [b"pcm!"]
    assert [m["streamType"] for m in mic.messages("data_stream")] == [
        "transcription:en-US",
        "button_press",
    ]


def test_audio_is_relayed_byte_identical_to_subscribers(session, effects):
    a = start_and_bind(session, effects, app_record("com.a", permissions=("MICROPHONE",)), "a")
    b = start_and_bind(session, effects, app_record("com.b"), "b")
    subscribe(session, a, ["audio_chunk"])
    frame = bytes(range(256)) * 12
    session.handle_glasses_audio(frame)
    assert a.binaries() == [frame]
    assert b.binaries() == []


def test_two_users_never_see_each_others_data(clock, effects):
    registry = SessionRegistry(SessionServices(clock, effects, Timings()))
    alice, _ = registry.get_or_create("alice@example.com")
    bob, _ = registry.get_or_create("bob@example.com")
    record = app_record()
    a_app = start_and_bind(alice, effects, record, "alice-app")
    b_app = start_and_bind(bob, effects, record, "bob-app")
    subscribe(alice, a_app, ["button_press"])
    subscribe(bob, b_app, ["button_press"])
    glasses_event(alice, {"type": "button_press", "buttonId": "alice", "pressType": "short"})
    assert [m["data"]["buttonId"] for m in a_app.messages("data_stream")] == ["alice"]
    assert b_app.messages("data_stream") == []


def test_an_app_cannot_display_as_another_package(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    before = len(glasses.messages("display_event"))
    session.handle_app_text(
        app,
        json.dumps(
            {
                "type": "display_event",
                "packageName": "system.augmentos.dashboard",
                "view": "main",
                "layout": {"layoutType": "text_wall", "text": "I am the dashboard"},
            }
        ),
    )
    assert len(glasses.messages("display_event")) == before
    error = app.messages("tpa_connection_error")[-1]
    assert (error["code"], error["field"]) == ("PACKAGE_MISMATCH", "packageName")
    assert app.closed is None


def test_an_app_cannot_change_another_apps_subscriptions(session, effects):
    victim = start_and_bind(session, effects, app_record("com.victim"), "victim")
    subscribe(session, victim, ["button_press"])
    attacker = start_and_bind(session, effects, app_record("com.attacker"), "attacker")
    session.handle_app_text(
        attacker,
        json.dumps(
            {"type": "subscription_update", "packageName": "com.victim", "subscriptions": []}
        ),
    )
    assert session.subscriptions.as_map()["com.victim"] == ["button_press"]
    assert "com.attacker" not in session.subscriptions.as_map()
    assert attacker.messages("tpa_connection_error")[-1]["code"] == "PACKAGE_MISMATCH"


def test_display_goes_out_as_the_bound_app(session, effects, glasses, clock):
    app = start_and_bind(session, effects, app_record())
    session.handle_app_text(
        app,
        json.dumps(
            {
                "type": "display_event",
                "packageName": "com.example.app",
                "sessionId": "",
                "view": "main",
                "layout": {"layoutType": "text_wall", "text": "hello"},
                "durationMs": 5000,
            }
        ),
    )
    assert glasses.messages("display_event")[-1]["layout"]["layoutType"] == "reference_card"
    clock.advance(Timings().boot_duration)  # held behind the boot screen, then shown
    shown = glasses.messages("display_event")[-1]
    assert shown["packageName"] == "com.example.app"
    assert shown["layout"] == {"layoutType": "text_wall", "text": "hello"}
    assert shown["durationMs"] == 5000


def test_malformed_layout_is_answered_and_never_forwarded(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    before = len(glasses.messages("display_event"))
    session.handle_app_text(
        app,
        json.dumps(
            {
                "type": "display_event",
                "view": "main",
                "layout": {"layoutType": "text_wall", "text": 5},
            }
        ),
    )
    session.handle_app_text(app, "{not json")
    codes = [(e["code"], e.get("field")) for e in app.messages("tpa_connection_error")]
    assert codes == [("INVALID_FIELD", "layout.text"), ("MALFORMED_MESSAGE", None)]
    assert len(glasses.messages("display_event")) == before
    assert app.closed is None


def test_subscription_change_is_reported_to_glasses(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    glasses.clear()
    subscribe(session, app, ["button_press"])
    subscribe(session, app, ["button_press"])  # the SDK repeats itself; no change, no message
    changes = glasses.messages("app_state_change")
    assert len(changes) == 1
    assert changes[0]["userSession"]["appSubscriptions"] == {"com.example.app": ["button_press"]}


# ---- microphone -------------------------------------------------------------------------


def test_microphone_follows_media_subscriptions_debounced(session, effects, glasses, clock):
    app = start_and_bind(session, effects, app_record(permissions=("MICROPHONE",)))

    def mic_states():
        return [m["isMicrophoneEnabled"] for m in glasses.messages("microphone_state_change")]

    assert mic_states() == [False]  # told once at connect
    clock.advance(5)
    subscribe(session, app, ["transcription:en-US"])
    assert mic_states() == [False]
    clock.advance(0.1)
    assert mic_states() == [False, True]
    on = glasses.messages("microphone_state_change")[-1]
    assert on["requiredData"] == ["transcription"] and on["userSession"]["loadingApps"] == []
    subscribe(session, app, [])
    clock.advance(0.1)
    subscribe(session, app, ["audio_chunk"])
    clock.advance(0.1)
    assert mic_states() == [False, True]  # off then on inside the 1 s window: nothing to send
    subscribe(session, app, [])
    clock.advance(0.1)
    assert mic_states() == [False, True]
    clock.advance(1.0)
    assert mic_states() == [False, True, False]


def test_app_stop_turns_the_microphone_off(session, effects, glasses, clock):
    app = start_and_bind(session, effects, app_record(permissions=("MICROPHONE",)))
    subscribe(session, app, ["audio_chunk"])
    clock.advance(2)
    session.stop_app("com.example.app")
    clock.advance(2)
    assert glasses.messages("microphone_state_change")[-1]["isMicrophoneEnabled"] is False


def test_a_failed_restart_keeps_trying_with_backoff_then_reports_crashed(
    session, effects, glasses, clock
):
    conn = start_and_bind(session, effects, app_record())
    session.app_closed(conn, 1006)  # the App server died
    clock.advance(5.0 + 1.0)  # grace, then the first restart after 1 s
    assert len(effects.starts) == 2
    effects.starts[-1].on_outcome(WebhookOutcome(False, None, "refused", retryable=True))
    clock.advance(1.0)  # the webhook retry inside the attempt
    effects.starts[-1].on_outcome(WebhookOutcome(False, None, "refused", retryable=True))
    assert len(effects.starts) == 3
    assert session.app_state("com.example.app") == "loading"  # not given up
    clock.advance(2.0)  # second restart after 2 s
    assert len(effects.starts) == 4
    effects.starts[-1].on_outcome(WebhookOutcome(False, 404, "HTTP 404"))
    clock.advance(4.0)  # third restart after 4 s
    assert len(effects.starts) == 5
    effects.starts[-1].on_outcome(WebhookOutcome(False, 404, "HTTP 404"))
    clock.advance(60)
    assert len(effects.starts) == 5
    last = glasses.messages("app_state_change")[-1]
    assert (last["state"], last["reason"]) == ("stopped", "crashed")
    assert last["error"]["stage"] == "WEBHOOK"
    assert session.app_state("com.example.app") is None


def test_restart_app_requests_a_fresh_session_and_drops_the_stale_socket(session, effects, glasses):
    stale = start_and_bind(session, effects, app_record())
    subscribe(session, stale, ["button_press"])
    assert session.restart_app("com.example.app")
    assert stale.closed == (1012, "App server restarted")
    assert len(effects.starts) == 2
    assert session.app_state("com.example.app") == "loading"
    session.app_closed(stale, 1012)  # the stale socket's close changes nothing
    fresh = RecordingConnection("fresh")
    assert session.bind_app(app_record(), fresh, {}) is None
    assert session.app_state("com.example.app") == "running"
    assert not session.restart_app("com.not.running")


def test_replaced_glasses_connection_is_told_why(session, glasses):
    session.attach_glasses(RecordingConnection("newer"))
    notice = glasses.messages("connection_error")[-1]
    assert notice["code"] == "SESSION_REPLACED"
    assert glasses.closed == (1000, "Replaced by a newer connection")


def test_app_back_before_glasses_keeps_the_others_persisted(clock, effects):
    session = UserSession(USER, SessionServices(clock, effects, Timings()))
    session.restore([app_record("com.a"), app_record("com.b")], {})
    conn = RecordingConnection("a")
    assert session.bind_app(app_record("com.a"), conn, {}) is None
    assert effects.starts == []  # no webhook: the App came back by itself
    # com.b not forgotten: the store keeps [com.a, com.b], an unchanged list is not rewritten
    assert session.lifecycle.persisted() == ["com.a", "com.b"]
    assert USER not in effects.running
    session.stop_app("com.b")  # the user stops one that never came back
    assert effects.running[USER] == ["com.a"]
    clock.advance(60.1)  # the glasses never return
    assert session.disposed
    assert conn.closed == (1000, "User session ended")
