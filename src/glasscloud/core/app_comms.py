"""App-to-App messages across users: who may reach whom, and how often. Sans-I/O: the
registry tells it who is there (`members`), it sends through the members' `Connection`s.

Rules, in the order they apply:
1. A message travels only between sessions of the SAME App package (the sender's, taken
   from its socket, never from the message).
2. Opting in: a user is reachable by an App's other users only while that user's session
   runs the App with a live socket (the user started it, and it has not stopped or lost its
   connection). Nobody is listed or messaged for an App they do not run right now, and the
   list carries only user ids and App session ids, no profile.
3. Broadcasts reach every other opted-in user of the App (or of a room the sender names and
   has joined, whose members joined it themselves); never the sender's own session.
4. A direct message reaches its target only if rule 2 holds for it; otherwise the sender gets
   `app_direct_message_response` with success false and `USER_NOT_REACHABLE`, and nothing is
   delivered.
5. Each socket may send `burst` App messages at once and `rate` per second after that (a token
   bucket on the clock); the excess is dropped with a `RATE_LIMITED` error frame.
6. A room lives only as long as it has members; a member whose App is no longer live is
   dropped from every room the next time the room is used.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from glasscloud.core.clock import Clock
from glasscloud.core.metrics import Metrics
from glasscloud.core.ports import Connection
from glasscloud.protocol import app_comms as wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import iso_timestamp

MESSAGE_TYPES = frozenset(
    {
        "app_broadcast_message",
        "app_direct_message",
        "app_user_discovery",
        "app_room_join",
        "app_room_leave",
    }
)


@dataclass(frozen=True, slots=True)
class Member:
    """One user's live session of an App."""

    user_id: str
    session_id: str
    conn: Connection


# package name -> its opted-in members (rule 2), supplied by the session registry
MemberLookup = Callable[[str], list[Member]]


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens
        self.updated = updated


class AppComms:
    def __init__(
        self,
        clock: Clock,
        metrics: Metrics,
        members: MemberLookup,
        rate: float = 10.0,
        burst: int = 20,
    ) -> None:
        self.clock = clock
        self.metrics = metrics
        self._members = members
        self.rate = rate
        self.burst = burst
        self._buckets: weakref.WeakKeyDictionary[Any, _Bucket] = weakref.WeakKeyDictionary()
        # (package, room) -> user ids who joined
        self._rooms: dict[tuple[str, str], set[str]] = {}
        self._ids = itertools.count(1)

    # ---- queries ----------------------------------------------------------------------

    def members(self, package_name: str) -> list[Member]:
        return self._members(package_name)

    def discover(self, package_name: str, asking_user: str) -> list[dict[str, Any]]:
        """The opted-in users of the App other than the one asking (rule 2)."""
        return [
            {"userId": m.user_id, "sessionId": m.session_id}
            for m in self._members(package_name)
            if m.user_id != asking_user
        ]

    # ---- one message from an App socket ----------------------------------------------

    def allow(self, conn: Connection) -> bool:
        """Rule 5: take one token from the socket's bucket."""
        now = self.clock.now()
        bucket = self._buckets.get(conn)
        if bucket is None:
            bucket = self._buckets[conn] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def handle(
        self, sender: Member, package_name: str, kind: str, obj: dict[str, Any]
    ) -> ProtocolError | None:
        """Carry out one App message; an error to answer the sender with, or None."""
        if not self.allow(sender.conn):
            self.metrics.inc("app_comms_refused", code="RATE_LIMITED")
            return ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"More than {self.rate:g} App-to-App messages per second on this socket; "
                f"'{kind}' was dropped.",
                "type",
            )
        timestamp = iso_timestamp(self.clock.wall())
        if kind == "app_broadcast_message":
            return self._broadcast(sender, package_name, obj, timestamp)
        if kind == "app_direct_message":
            return self._direct(sender, package_name, obj, timestamp)
        if kind == "app_user_discovery":
            users = self.discover(package_name, sender.user_id)
            sender.conn.send_text(wire.user_list(users, timestamp))
            return None
        room = _room_id(obj)
        if isinstance(room, ProtocolError):
            return room
        if kind == "app_room_join":
            self._join(sender, package_name, room, timestamp)
        else:
            self._leave(sender, package_name, room, timestamp)
        return None

    # ---- the rules ----------------------------------------------------------------------

    def _message_id(self, obj: dict[str, Any]) -> str:
        given = obj.get("messageId")
        return given if isinstance(given, str) and given else f"gc-{next(self._ids)}"

    def _broadcast(
        self, sender: Member, package_name: str, obj: dict[str, Any], timestamp: str
    ) -> ProtocolError | None:
        if "payload" not in obj:
            return _field("payload", "`payload` is required in app_broadcast_message.")
        room = obj.get("roomId")
        if room is not None and not isinstance(room, str):
            return _field("roomId", "`roomId` must be a string.")
        targets = self._room_members(package_name, room) if room else None
        if targets is not None and sender.user_id not in targets:
            return _field("roomId", f"Join room '{room}' (app_room_join) before sending to it.")
        frame = wire.message_received(
            obj["payload"],
            self._message_id(obj),
            sender.user_id,
            sender.session_id,
            timestamp,
            room,
        )
        delivered = 0
        for member in self._members(package_name):
            if member.user_id == sender.user_id:
                continue  # rule 3: never back to the sender
            if targets is not None and member.user_id not in targets:
                continue
            member.conn.send_text(frame)
            delivered += 1
        self.metrics.inc("app_messages_delivered", delivered, kind="broadcast")
        return None

    def _direct(
        self, sender: Member, package_name: str, obj: dict[str, Any], timestamp: str
    ) -> ProtocolError | None:
        target = obj.get("targetUserId")
        if not isinstance(target, str) or not target:
            return _field("targetUserId", "`targetUserId` is required in app_direct_message.")
        if "payload" not in obj:
            return _field("payload", "`payload` is required in app_direct_message.")
        message_id = self._message_id(obj)
        reached = [m for m in self._members(package_name) if m.user_id == target]
        if not reached:
            self.metrics.inc("app_comms_refused", code="USER_NOT_REACHABLE")
            sender.conn.send_text(
                wire.direct_response(
                    message_id,
                    target,
                    False,
                    timestamp,
                    ErrorCode.USER_NOT_REACHABLE,
                    f"{target} does not run {package_name} now; nothing was delivered.",
                )
            )
            return None
        frame = wire.message_received(
            obj["payload"], message_id, sender.user_id, sender.session_id, timestamp, None
        )
        for member in reached:
            member.conn.send_text(frame)
        self.metrics.inc("app_messages_delivered", len(reached), kind="direct")
        sender.conn.send_text(wire.direct_response(message_id, target, True, timestamp))
        return None

    def _room_members(self, package_name: str, room: str) -> set[str]:
        """Rule 6: the room's members that are still live (the rest are dropped)."""
        key = (package_name, room)
        joined = self._rooms.get(key)
        if not joined:
            return set()
        live = {m.user_id for m in self._members(package_name)}
        joined &= live
        if not joined:
            del self._rooms[key]
        return set(joined)

    def _join(self, sender: Member, package_name: str, room: str, timestamp: str) -> None:
        members = self._room_members(package_name, room)
        if sender.user_id in members:
            return
        self._rooms.setdefault((package_name, room), set()).add(sender.user_id)
        self._tell_room(
            package_name,
            room,
            members,
            wire.user_joined(sender.user_id, sender.session_id, room, timestamp),
            wire.room_updated(room, "user_joined", len(members) + 1, timestamp),
            sender,
        )

    def _leave(self, sender: Member, package_name: str, room: str, timestamp: str) -> None:
        members = self._room_members(package_name, room)
        if sender.user_id not in members:
            return
        members.discard(sender.user_id)
        joined = self._rooms[(package_name, room)]
        joined.discard(sender.user_id)
        if not joined:
            del self._rooms[(package_name, room)]
        self._tell_room(
            package_name,
            room,
            members,
            wire.user_left(sender.user_id, sender.session_id, room, timestamp),
            wire.room_updated(room, "user_left", len(members), timestamp),
            sender,
        )

    def _tell_room(
        self,
        package_name: str,
        room: str,
        others: set[str],
        change: str,
        update: str,
        sender: Member,
    ) -> None:
        sender.conn.send_text(update)
        for member in self._members(package_name):
            if member.user_id in others and member.user_id != sender.user_id:
                member.conn.send_text(change)
                member.conn.send_text(update)


def _field(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_FIELD, message, field)


def _room_id(obj: dict[str, Any]) -> str | ProtocolError:
    room = obj.get("roomId")
    if not isinstance(room, str) or not room or len(room) > 256:
        return _field("roomId", "`roomId` is required and must be a non-empty string.")
    return room
