"""App-to-App messages (core/app_comms.py): same package only, only users who run the App
now, never back to the sender, rate-limited per socket. Driven through the real registry
and sessions on a ManualClock."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.registry import SessionRegistry
from glasscloud.core.timings import Timings
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record
from tests.unit.test_session import start_and_bind

CHAT, OTHER = "com.example.chat", "com.example.other"
ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def registry(clock) -> SessionRegistry:
    return SessionRegistry(SessionServices(clock, RecordingEffects(), Timings()))


def running(registry, user, package=CHAT) -> RecordingConnection:
    session, _ = registry.get_or_create(user)
    if session.glasses is None:
        session.attach_glasses(RecordingConnection(f"{user}-glasses"))
    effects = session.services.effects
    conn = start_and_bind(session, effects, app_record(package), f"{user}:{package}")
    conn.clear()
    return conn


def send(registry, user, conn, obj) -> None:
    registry.get(user).handle_app_text(conn, json.dumps(obj))


def broadcast(payload, **extra):
    return {"type": "app_broadcast_message", "payload": payload, "messageId": "m1", **extra}


def test_broadcast_reaches_other_users_of_the_same_app_only(registry):
    alice, bob = running(registry, ALICE), running(registry, BOB)
    carol_other = running(registry, CAROL, OTHER)  # Carol runs another App
    send(registry, ALICE, alice, broadcast({"hi": 1}))
    [got] = bob.messages("app_message_received")
    assert got["payload"] == {"hi": 1}
    assert got["senderUserId"] == ALICE
    assert got["senderSessionId"] == f"{ALICE}-{CHAT}"
    assert got["messageId"] == "m1"
    assert alice.messages() == []  # never back to the sender
    assert carol_other.messages() == []


def test_a_user_who_stopped_the_app_is_not_reached(registry):
    alice, bob = running(registry, ALICE), running(registry, BOB)
    registry.get(BOB).stop_app(CHAT)
    bob.clear()
    send(registry, ALICE, alice, broadcast("x"))
    assert bob.messages("app_message_received") == []
    send(registry, ALICE, alice, {"type": "app_user_discovery"})
    [listing] = alice.messages("app_user_discovery_response")
    assert listing["users"] == [] and listing["totalUsers"] == 0


def test_the_sender_is_its_socket_not_the_message(registry):
    alice, bob = running(registry, ALICE), running(registry, BOB)
    send(registry, ALICE, alice, broadcast("x", senderUserId=CAROL))
    assert bob.messages("app_message_received")[0]["senderUserId"] == ALICE
    send(registry, ALICE, alice, broadcast("x", packageName=OTHER))
    assert alice.messages("tpa_connection_error")[0]["code"] == "PACKAGE_MISMATCH"


def test_direct_message_to_a_running_user_and_to_one_who_is_not(registry):
    alice, bob = running(registry, ALICE), running(registry, BOB)
    running(registry, CAROL, OTHER)
    send(
        registry,
        ALICE,
        alice,
        {"type": "app_direct_message", "targetUserId": BOB, "payload": "psst", "messageId": "d1"},
    )
    assert bob.messages("app_message_received")[0]["payload"] == "psst"
    [ok] = alice.messages("app_direct_message_response")
    assert (ok["messageId"], ok["success"], ok["targetUserId"]) == ("d1", True, BOB)
    alice.clear()
    for target in (CAROL, "nobody@example.com"):
        send(
            registry,
            ALICE,
            alice,
            {"type": "app_direct_message", "targetUserId": target, "payload": 1, "messageId": "d2"},
        )
    refused = alice.messages("app_direct_message_response")
    assert [r["success"] for r in refused] == [False, False]
    assert {r["code"] for r in refused} == {"USER_NOT_REACHABLE"}


def test_discovery_lists_only_other_running_users(registry):
    alice = running(registry, ALICE)
    running(registry, BOB)
    running(registry, CAROL, OTHER)
    send(registry, ALICE, alice, {"type": "app_user_discovery"})
    [listing] = alice.messages("app_user_discovery_response")
    assert listing["users"] == [{"userId": BOB, "sessionId": f"{BOB}-{CHAT}"}]
    assert registry.services.app_comms.discover(OTHER, ALICE) == [
        {"userId": CAROL, "sessionId": f"{CAROL}-{OTHER}"}
    ]


def test_rooms_restrict_broadcasts_to_members(registry):
    alice, bob, carol = running(registry, ALICE), running(registry, BOB), running(registry, CAROL)
    send(registry, ALICE, alice, {"type": "app_room_join", "roomId": "r"})
    send(registry, BOB, bob, {"type": "app_room_join", "roomId": "r"})
    joined = alice.messages("app_user_joined")
    assert [(j["userId"], j["roomId"]) for j in joined] == [(BOB, "r")]
    alice.clear()
    bob.clear()
    send(registry, ALICE, alice, broadcast("room only", roomId="r"))
    assert bob.messages("app_message_received")[0]["roomId"] == "r"
    assert carol.messages("app_message_received") == []
    send(registry, BOB, bob, {"type": "app_room_leave", "roomId": "r"})
    assert alice.messages("app_user_left")[0]["userId"] == BOB
    bob.clear()
    send(registry, ALICE, alice, broadcast("again", roomId="r"))
    assert bob.messages("app_message_received") == []
    # Bob left: he may not send to the room either
    send(registry, BOB, bob, broadcast("from outside", roomId="r"))
    assert bob.messages("tpa_connection_error")[0]["field"] == "roomId"
    assert alice.messages("app_message_received") == []


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "app_direct_message", "payload": 1}, "targetUserId"),
        ({"type": "app_direct_message", "targetUserId": 5, "payload": 1}, "targetUserId"),
        ({"type": "app_direct_message", "targetUserId": BOB}, "payload"),
        ({"type": "app_broadcast_message"}, "payload"),
        ({"type": "app_broadcast_message", "payload": 1, "roomId": 3}, "roomId"),
        ({"type": "app_room_join"}, "roomId"),
        ({"type": "app_room_leave", "roomId": ""}, "roomId"),
    ],
)
def test_bad_app_messages_name_the_field_and_deliver_nothing(registry, obj, field):
    alice, bob = running(registry, ALICE), running(registry, BOB)
    send(registry, ALICE, alice, obj)
    [error] = alice.messages("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", field)
    assert bob.messages() == []


def test_rate_limit_per_socket_on_the_clock(registry, clock):
    alice, bob = running(registry, ALICE), running(registry, BOB)
    hub = registry.services.app_comms
    for _ in range(hub.burst + 5):
        send(registry, ALICE, alice, broadcast("spam"))
    assert len(bob.messages("app_message_received")) == hub.burst
    errors = alice.messages("tpa_connection_error")
    assert len(errors) == 5 and {e["code"] for e in errors} == {"RATE_LIMITED"}
    # Bob's own socket has its own bucket
    send(registry, BOB, bob, broadcast("mine"))
    assert len(alice.messages("app_message_received")) == 1
    # time refills the bucket: 1 s = `rate` more messages
    bob.clear()
    clock.advance(1.0)
    for _ in range(int(hub.rate) + 1):
        send(registry, ALICE, alice, broadcast("later"))
    assert len(bob.messages("app_message_received")) == int(hub.rate)
