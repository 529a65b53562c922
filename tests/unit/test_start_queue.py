"""The start timer rule (core/lifecycle.py): a start is judged from the moment its webhook
is actually sent. The shell may queue start webhooks per App server (server/webhook_queue.py);
RecordingEffects(queued=True) holds them until the test sends them."""

from __future__ import annotations

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import StartResult, WebhookOutcome
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

USER = "queued@example.com"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def effects() -> RecordingEffects:
    return RecordingEffects(queued=True)


@pytest.fixture
def session(clock, effects) -> UserSession:
    session = UserSession(USER, SessionServices(clock, effects, Timings()))
    session.attach_glasses(RecordingConnection("glasses"))
    return session


def test_a_queued_start_does_not_time_out_while_it_waits(session, effects, clock):
    results: list[StartResult] = []
    session.start_app(app_record(), results.append)
    clock.advance(29.0)  # far past app_start_timeout (5 s), still behind others
    assert results == [] and session.app_state("com.example.app") == "loading"
    assert effects.starts[0].sent() is True
    clock.advance(4.9)
    assert results == []
    session.bind_app(app_record(), RecordingConnection("app"), {})
    assert results == [StartResult(True, "com.example.app")]


def test_a_sent_start_times_out_five_seconds_after_it_left(session, effects, clock):
    results: list[StartResult] = []
    session.start_app(app_record(), results.append)
    clock.advance(12.0)
    effects.starts[0].sent()
    effects.starts[0].on_outcome(WebhookOutcome(True, 200))
    clock.advance(4.9)
    assert results == []
    clock.advance(0.2)
    assert results[0].stage == "TIMEOUT"
    assert "of its start webhook being sent" in (results[0].message or "")


def test_a_start_queued_past_the_cap_fails_saying_so(session, effects, clock):
    results: list[StartResult] = []
    session.start_app(app_record(), results.append)
    clock.advance(29.9)
    assert results == []
    clock.advance(0.2)
    assert results[0].stage == "WEBHOOK" and not results[0].success
    assert "was not sent within 30 s" in (results[0].message or "")
    assert "saturated" in (results[0].message or "")
    assert session.app_state("com.example.app") is None
    # When its turn comes, the shell learns it is no longer wanted and does not send it.
    assert effects.starts[0].sent() is False


def test_a_start_stopped_while_queued_is_withdrawn(session, effects, clock):
    results: list[StartResult] = []
    session.start_app(app_record(), results.append)
    session.stop_app("com.example.app", "user_disabled")
    assert results[0].stage == "STOPPED"
    assert effects.starts[0].sent() is False
    clock.advance(60.0)
    assert len(effects.starts) == 1  # nothing re-sent


def test_a_retry_is_judged_from_its_own_send(session, effects, clock):
    results: list[StartResult] = []
    session.start_app(app_record(), results.append)
    effects.starts[0].sent()
    effects.starts[0].on_outcome(WebhookOutcome(False, None, "saturated", retryable=True))
    clock.advance(1.0)  # webhook_retry_delay: the second attempt queues again
    assert len(effects.starts) == 2
    clock.advance(20.0)  # waiting in the queue: no timeout
    assert results == []
    effects.starts[1].sent()
    clock.advance(5.1)
    assert results[0].stage == "TIMEOUT"


def test_a_saturated_queue_fails_the_start_after_the_retries(clock):
    class Saturated(RecordingEffects):
        def request_app_start(self, app, user_id, sid, on_outcome, on_send=None) -> None:
            super().request_app_start(app, user_id, sid, on_outcome, on_send)
            on_outcome(WebhookOutcome(False, None, "App server saturated", retryable=True))

    effects = Saturated(queued=True)
    session = UserSession(USER, SessionServices(clock, effects, Timings()))
    results: list[StartResult] = []
    session.start_app(app_record(), results.append)
    clock.advance(1.0)
    assert results[0].stage == "WEBHOOK" and "saturated" in (results[0].message or "")
    assert len(effects.starts) == 2  # webhook_attempts
