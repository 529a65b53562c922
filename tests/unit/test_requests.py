"""Requests Apps make of the glasses: answered to the asker only, ended with a reason."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.requests import MAX_PENDING_PER_APP, PendingRequests
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import decode_glasses_message
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record


def test_an_answer_resolves_once_and_cancels_its_timeout():
    clock = ManualClock()
    ended: list[tuple[str, str]] = []
    requests = PendingRequests(clock)
    requests.add("r1", "com.a", "photo", 5.0, lambda p, why: ended.append((p.request_id, why)))
    assert requests.resolve("r1").package_name == "com.a"
    assert requests.resolve("r1") is None
    clock.advance(10)
    assert ended == []
    assert clock.pending == 0


def test_no_answer_in_time_ends_with_timeout():
    clock = ManualClock()
    ended: list[str] = []
    requests = PendingRequests(clock)
    requests.add("r1", "com.a", "photo", 5.0, lambda p, why: ended.append(why))
    clock.advance(4.9)
    assert ended == []
    clock.advance(0.2)
    assert ended == ["timeout"]
    assert requests.resolve("r1") is None


def test_stopped_app_and_lost_glasses_end_requests():
    clock = ManualClock()
    ended: list[tuple[str, str]] = []
    requests = PendingRequests(clock)
    on_end = lambda p, why: ended.append((p.request_id, why))  # noqa: E731
    requests.add("a1", "com.a", "photo", 5.0, on_end)
    requests.add("b1", "com.b", "photo", 5.0, on_end)
    requests.drop_app("com.a")
    requests.drop_all("glasses_gone")
    assert ended == [("a1", "app_stopped"), ("b1", "glasses_gone")]
    assert clock.pending == 0


@pytest.mark.parametrize("bad", [None, 7, "", "x" * 129])
def test_request_ids_are_bounded_strings(bad):
    with pytest.raises(ProtocolError) as info:
        PendingRequests(ManualClock()).add(bad, "com.a", "photo", 1.0, lambda p, why: None)
    assert info.value.field == "requestId"


def test_a_waiting_id_cannot_be_reused_and_each_app_has_a_limit():
    requests = PendingRequests(ManualClock())
    requests.add("r", "com.a", "photo", 1.0, lambda p, why: None)
    with pytest.raises(ProtocolError):
        requests.add("r", "com.b", "photo", 1.0, lambda p, why: None)
    for i in range(MAX_PENDING_PER_APP - 1):
        requests.add(f"r{i}", "com.a", "photo", 1.0, lambda p, why: None)
    with pytest.raises(ProtocolError) as info:
        requests.add("one-more", "com.a", "photo", 1.0, lambda p, why: None)
    assert info.value.code is ErrorCode.RATE_LIMITED
    requests.add("other-app", "com.b", "photo", 1.0, lambda p, why: None)  # not starved


def _running(session, effects, record) -> RecordingConnection:
    session.start_app(record)
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    conn = RecordingConnection(record.package_name)
    assert session.bind_app(record, conn, {}) is None
    return conn


def test_a_photo_answer_reaches_the_app_that_asked_and_no_wildcard_subscriber():
    clock, effects = ManualClock(), RecordingEffects()
    session = UserSession("u@example.com", SessionServices(clock, effects, Timings()))
    session.attach_glasses(RecordingConnection("glasses"))
    asker = _running(session, effects, app_record("com.asker", permissions=("CAMERA",)))
    spy = _running(session, effects, app_record("com.spy", permissions=("ALL",)))
    session.handle_app_text(
        spy, json.dumps({"type": "subscription_update", "subscriptions": ["*"]})
    )
    session.router.requests.add("p1", "com.asker", "photo", 5.0, lambda p, why: None)
    answer = {"type": "photo_response", "requestId": "p1", "photoUrl": "http://x/p.jpg"}
    session.handle_glasses_message(decode_glasses_message(json.dumps(answer)))
    assert [m["data"]["requestId"] for m in asker.messages("data_stream")] == ["p1"]
    assert spy.messages("data_stream") == []
    # an answer nobody asked for reaches nobody
    stray = {"type": "photo_response", "requestId": "nobody", "photoUrl": "http://x/q.jpg"}
    session.handle_glasses_message(decode_glasses_message(json.dumps(stray)))
    assert len(asker.messages("data_stream")) == 1 and spy.messages("data_stream") == []
