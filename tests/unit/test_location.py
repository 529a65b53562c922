"""Location rules of the core (core/location.py), on a ManualClock."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.errors import ProtocolError
from glasscloud.protocol.glasses import decode_glasses_message
from glasscloud.protocol.streams import parse_subscription
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

SETTLE = Timings().subscription_mic_debounce + 0.01


class Rig:
    def __init__(self) -> None:
        self.clock, self.effects = ManualClock(), RecordingEffects()
        self.session = UserSession("u@example.com", SessionServices(self.clock, self.effects))
        self.glasses = RecordingConnection("glasses")
        self.session.attach_glasses(self.glasses)

    def app(self, package: str, *permissions: str) -> RecordingConnection:
        record = app_record(package, permissions=permissions)
        self.session.start_app(record)
        self.effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
        conn = RecordingConnection(package)
        assert self.session.bind_app(record, conn, {}) is None
        return conn

    def app_says(self, conn: RecordingConnection, **msg: object) -> None:
        self.session.handle_app_text(conn, json.dumps(msg))

    def subscribe(self, conn: RecordingConnection, *subs: object) -> None:
        self.app_says(conn, type="subscription_update", subscriptions=list(subs))
        self.clock.advance(SETTLE)

    def phone(self, **msg: object) -> None:
        self.session.handle_glasses_message(decode_glasses_message(json.dumps(msg)))

    def tiers(self) -> list[str]:
        return [m["tier"] for m in self.glasses.messages("set_location_tier")]


def test_the_phone_is_asked_for_the_most_demanding_tier_and_told_when_nobody_needs_it():
    rig = Rig()
    a = rig.app("com.a", "LOCATION")
    b = rig.app("com.b", "LOCATION")
    assert rig.tiers() == []  # nobody asked: the phone is not told anything
    rig.subscribe(a, "location_update")  # SDK 2.1.29: no rate on the wire
    assert rig.tiers() == ["standard"]
    rig.subscribe(b, {"stream": "location_stream", "rate": "realtime"})  # a newer SDK
    assert rig.tiers() == ["standard", "realtime"]
    rig.subscribe(b, {"stream": "location_stream", "rate": "kilometer"})
    assert rig.tiers() == ["standard", "realtime", "standard"]
    rig.subscribe(b)
    rig.session.stop_app("com.a")
    rig.clock.advance(SETTLE)
    assert rig.tiers() == ["standard", "realtime", "standard", "reduced"]
    again = RecordingConnection("glasses-2")
    rig.session.attach_glasses(again)
    assert [m["tier"] for m in again.messages("set_location_tier")] == ["reduced"]


def test_changes_settle_before_the_tier_is_recomputed():
    rig = Rig()
    a = rig.app("com.a", "LOCATION")
    # a poll's subscribe + unsubscribe within the settle time costs the phone nothing
    rig.app_says(a, type="subscription_update", subscriptions=["location_update"])
    rig.app_says(a, type="subscription_update", subscriptions=[])
    rig.clock.advance(SETTLE)
    assert rig.tiers() == []


def test_a_wrong_rate_is_refused_naming_the_field():
    with pytest.raises(ProtocolError) as info:
        parse_subscription({"stream": "location_stream", "rate": "warp"}, "subscriptions[0]")
    assert info.value.field == "subscriptions[0].rate"
    assert "realtime" in info.value.message


def test_fixes_flow_to_subscribers_and_a_fresh_one_answers_a_poll_at_once():
    rig = Rig()
    a = rig.app("com.a", "LOCATION")
    rig.subscribe(a, "location_update")
    rig.phone(type="location_update", lat=52.5, lng=13.4, accuracy=8)
    [fix] = a.messages("data_stream")
    assert fix["streamType"] == "location_update" and fix["data"]["lat"] == 52.5
    rig.clock.advance(29)
    rig.app_says(a, type="location_poll_request", correlationId="poll_1", accuracy="standard")
    answer = a.messages("data_stream")[-1]["data"]
    assert answer["correlationId"] == "poll_1" and answer["lng"] == 13.4
    assert rig.glasses.messages("request_single_location") == []


def test_a_stale_fix_makes_the_cloud_ask_the_phone_and_its_answer_goes_to_the_asker_only():
    rig = Rig()
    asker = rig.app("com.asker", "LOCATION")
    other = rig.app("com.other", "LOCATION")
    rig.subscribe(other, "location_update")
    rig.phone(type="location_update", lat=1.0, lng=2.0)
    rig.clock.advance(11)  # older than `high` allows (10 s)
    rig.app_says(asker, type="location_poll_request", correlationId="poll_2", accuracy="high")
    [ask] = rig.glasses.messages("request_single_location")
    assert ask["accuracy"] == "high" and ask["correlationId"] == "poll_2"
    rig.phone(type="location_update", lat=3.0, lng=4.0, correlationId="poll_2")
    [answer] = asker.messages("data_stream")
    assert answer["data"] == {
        "type": "location_update",
        "lat": 3.0,
        "lng": 4.0,
        "correlationId": "poll_2",
        "timestamp": answer["data"]["timestamp"],
    }
    assert len(other.messages("data_stream")) == 1  # only the first, unsolicited fix
    rig.clock.advance(60)
    assert asker.messages("tpa_connection_error") == []  # resolved: no timeout later


def test_a_poll_without_an_answer_ends_with_an_error_naming_it():
    rig = Rig()
    asker = rig.app("com.asker", "LOCATION")
    rig.app_says(asker, type="location_poll_request", correlationId="poll_3")
    rig.clock.advance(Timings().location_poll_timeout + 0.1)
    [error] = asker.messages("tpa_connection_error")
    assert error["code"] == "LOCATION_UNAVAILABLE"
    assert "location_poll_request poll_3" in error["message"]
    assert "10 s" in error["message"]


def test_lost_glasses_end_a_poll_and_no_glasses_refuse_one_at_once():
    rig = Rig()
    asker = rig.app("com.asker", "LOCATION")
    rig.app_says(asker, type="location_poll_request", correlationId="poll_4")
    rig.session.glasses_closed(rig.glasses)
    [error] = asker.messages("tpa_connection_error")
    assert "disconnected" in error["message"]
    rig.app_says(asker, type="location_poll_request", correlationId="poll_5")
    second = asker.messages("tpa_connection_error")[-1]
    assert second["code"] == "LOCATION_UNAVAILABLE" and "poll_5" in second["message"]


def test_location_needs_the_permission_everywhere():
    rig = Rig()
    nosy = rig.app("com.nosy")
    rig.subscribe(nosy, "location_update", {"stream": "location_stream", "rate": "high"})
    [refused] = nosy.messages("permission_error")
    assert {d["stream"] for d in refused["details"]} == {"location_update", "location_stream"}
    rig.app_says(nosy, type="location_poll_request", correlationId="poll_6")
    [error] = nosy.messages("tpa_connection_error")
    assert error["code"] == "PERMISSION_DENIED"
    assert "poll_6" in error["message"] and "LOCATION" in error["message"]
    assert rig.glasses.messages("request_single_location") == []
    # a wildcard without LOCATION sees no fix, and asks no tier
    rig.subscribe(nosy, "*")
    rig.phone(type="location_update", lat=1.0, lng=2.0)
    assert nosy.messages("data_stream") == [] and rig.tiers() == []


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ({"accuracy": "standard"}, "correlationId"),
        ({"correlationId": 7}, "correlationId"),
        ({"correlationId": "x" * 129}, "correlationId"),
        ({"correlationId": "p", "accuracy": "best"}, "accuracy"),
    ],
)
def test_a_bad_poll_is_refused_naming_the_field(msg, field):
    rig = Rig()
    asker = rig.app("com.asker", "LOCATION")
    rig.app_says(asker, type="location_poll_request", **msg)
    [error] = asker.messages("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", field)


def test_a_wildcard_app_with_the_permission_gets_fixes_and_counts_for_the_tier():
    rig = Rig()
    wild = rig.app("com.wild", "LOCATION")
    rig.subscribe(wild, "*")
    assert rig.tiers() == ["standard"]
    rig.phone(type="location_update", lat=1.0, lng=2.0)
    [fix] = wild.messages("data_stream")
    assert fix["streamType"] == "location_update"


def test_a_new_subscriber_gets_the_last_fix_at_once_if_it_is_fresh():
    rig = Rig()
    early = rig.app("com.early", "LOCATION")
    rig.subscribe(early, "location_update")
    rig.phone(type="location_update", lat=5.0, lng=6.0)
    late = rig.app("com.late", "LOCATION")
    rig.subscribe(late, "location_update")
    [replayed] = late.messages("data_stream")
    assert (replayed["data"]["lat"], replayed["data"]["lng"]) == (5.0, 6.0)
    assert len(early.messages("data_stream")) == 1  # not again for the one already there
    rig.clock.advance(31)  # older than `standard` allows
    stale = rig.app("com.stale", "LOCATION")
    rig.subscribe(stale, "location_update")
    assert stale.messages("data_stream") == []
