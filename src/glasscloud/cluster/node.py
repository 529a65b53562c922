"""This node's side of a cluster (docs/cluster.md): it owns the users whose leases it holds,
takes users over when their glasses arrive, lets users go when another node asks, renews
its leases and announcement, and hears the other nodes' control messages.

Rules, and why:
- a user's session opens on a node only once the node holds the user's lease and has
  written its fencing epoch into the database (`Store.take_user`), so at most one node
  persists a user's state at a time;
- glasses arriving while a live node owns the user: that node is asked (bus) to let go; it
  saves what the user sees, lets the session go without a word to the Apps, waits for its
  writes, and releases the lease; this node then takes over and asks the user's Apps by
  webhook with its own URL (the SDK drops its old socket on a new `session_request`);
- glasses arriving while a node that does not answer holds the lease are accepted at once
  (`connection_ack`, no Apps yet); the session is taken over when the lease is free;
- a node taking a user back from itself (it restarted) lets the Apps reconnect by
  themselves within the resume window, like a single process; any other node asks them;
- a lease found held by another node at renewal, or a write the database refuses, means
  this node lost the user: the session is let go here (the glasses reconnect, 1012);
- Redis unreachable: the users this node serves keep being served (nobody else can claim
  them meanwhile); new sessions are refused (`CLUSTER_UNAVAILABLE`) until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from redis.exceptions import RedisError

from glasscloud.cluster.bus import Bus
from glasscloud.cluster.client import redis_client
from glasscloud.cluster.directory import NodeDirectory, NodeInfo
from glasscloud.cluster.forwarding import Forwarder
from glasscloud.cluster.leases import Claim, Leases
from glasscloud.core.records import UserRecord
from glasscloud.core.session import UserSession
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.server.background import cancel_and_wait
from glasscloud.server.config_sources import hide_password
from glasscloud.server.http_errors import Envelope, error_response
from glasscloud.server.request_context import was_forwarded
from glasscloud.server.session_views import session_summary
from glasscloud.server.sessions import (
    ClusterUnavailable,
    records_of,
    session_moving,
    unavailable,
)
from glasscloud.store.errors import FencedWrite

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer

log = logging.getLogger("glasscloud.cluster")

# A user's stored App settings read at the takeover, and the settings generation then
# (server/session_settings.py).
Settings = tuple[dict[str, dict[str, Any]], int]

ACK_WAIT = 0.5  # seconds for the owner to say it lets the user go (else: taken for dead)
HANDOVER_WAIT = 3.0  # seconds, once it said so, for its lease to be free
HANDOVER_POLL = 0.05
LEASE_RETRY = 0.5  # after Redis failed while waiting for a silent node's lease
SETTLE_TIMEOUT = 2.0  # writes of a user being let go, before its lease is released
MOVED_APP_GRACE = 10.0  # App sockets of a user who moved, left for the SDK to drop


def _until_free(claim: Claim, lease_seconds: float) -> float:
    """How long to sleep before claiming a lease another node holds again: until it would
    run out (plus a little: Redis expires keys on the millisecond), at most a lease time."""
    return min(max(claim.seconds_left + 0.02, 0.05), lease_seconds)


def default_node_id(host_name: str, port: int) -> str:
    """`<host>-<port>`, cut to what a node id may hold."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", host_name.split(".")[0]) or "node"
    return f"{base[:50]}-{port}"


@dataclass
class Handover:
    """A user this node asked another node for: it said it lets go; it released the lease."""

    acked: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)


class ClusterNode:
    def __init__(self, server: GlasscloudServer) -> None:
        config = server.config
        assert config.redis is not None
        self.server = server
        self.node_id = config.node_id or default_node_id(socket.gethostname(), config.port)
        self.lease_seconds = config.lease_seconds
        self.redis = redis_client(config.redis)
        self.leases = Leases(self.redis, self.node_id, self.lease_seconds)
        self.directory = NodeDirectory(self.redis, self.lease_seconds)
        self.bus = Bus(self.redis, self.node_id, self._on_message)
        timings = config.timings
        self.forwarder = Forwarder(
            self.node_id,
            timings.app_start_queue_cap
            + timings.app_start_timeout
            + timings.webhook_retry_delay
            + 10.0,
        )
        self.owned: dict[str, int] = {}  # user -> fencing epoch
        self._waiting: dict[str, asyncio.Task[None]] = {}  # accepted, lease not yet free
        self._handovers: dict[str, Handover] = {}  # users we asked another node for
        self._notify: dict[str, str] = {}  # users we let go: the node to tell once released
        self._wakeups: dict[str, asyncio.Event] = {}  # set when a waited-for owner lets go
        self.started_at = time.time()
        self.draining = False
        self.redis_up = False
        self._tick: asyncio.Task[None] | None = None
        server.registry.on_forget = self._session_forgotten
        server.effects.fence = self
        self.metrics = server.metrics

    # ---- life ------------------------------------------------------------------------

    async def start(self) -> None:
        """Reach Redis (refusing to start without it), listen, announce this node."""
        try:
            await self.redis.ping()
        except RedisError as exc:
            where = hide_password(self.server.config.redis or "")
            raise ConnectionError(f"cannot reach Redis at {where} (--redis): {exc}") from None
        self.redis_up = True
        await self._refuse_a_taken_node_id()
        self.bus.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.bus.subscribed.wait(), 5.0)
        await self._announce()
        self._tick = asyncio.get_running_loop().create_task(self._renew_forever())
        log.info(
            "cluster node up", extra={"nodeId": self.node_id, "leaseSeconds": self.lease_seconds}
        )

    async def _refuse_a_taken_node_id(self) -> None:
        """Two live nodes with one id would both believe they own that id's users. A node
        announced under this id at another URL within the lease time is another node; one at
        our own URL is this node's previous process (restarted), whose leases we take back."""
        other = await self.directory.get(self.node_id)
        if other is not None and other.public_url != self.server.config.base_url:
            raise ConnectionError(
                f"node id {self.node_id} is in use by a live node at {other.public_url}; give "
                "each node its own --node-id"
            )

    async def drain(self) -> None:
        """SIGTERM: every user is handed on at once. What each user sees is written down,
        every lease released, and only then are the glasses closed with 1012: they
        reconnect to another node, which takes them over without waiting or asking."""
        self.draining = True
        for task in list(self._waiting.values()):
            task.cancel()
        sessions = list(self.server.registry)
        for session in sessions:
            session.save_resume_state()
        effects = self.server.effects
        await asyncio.gather(*(effects.settled(s.user_id, SETTLE_TIMEOUT) for s in sessions))
        owned, self.owned = dict(self.owned), {}  # from here on nothing of theirs is written
        try:
            await self.leases.release_many(owned)
        except RedisError:
            self.metrics.inc("cluster_redis_errors")  # they expire by themselves
        for session in sessions:
            session.dispose(moved=CloseCode.SERVICE_RESTART)
        with contextlib.suppress(RedisError):
            await self.directory.leave(self.node_id)

    async def close(self) -> None:
        await cancel_and_wait(self._tick)
        await self.bus.stop()
        await self.forwarder.close()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    # ---- who owns whom -----------------------------------------------------------------

    def epoch_of(self, user_id: str) -> int | None:
        return self.owned.get(user_id)

    def owns(self, user_id: str) -> bool:
        return user_id in self.owned

    def fenced(self, user_id: str, epoch: int) -> None:
        """The database refused a write: a newer owner took the user over."""
        log.warning(
            "a write was refused: a newer owner took the user over", extra={"userId": user_id}
        )
        if self.owned.get(user_id) == epoch:
            self._lost(user_id)

    def _lost(self, user_id: str) -> None:
        self.owned.pop(user_id, None)
        self.metrics.inc("cluster_leases_lost")
        session = self.server.registry.get(user_id)
        if session is not None:
            log.warning(
                "lost the lease of a user; letting the session go", extra={"userId": user_id}
            )
            session.dispose(moved=CloseCode.SERVICE_RESTART)

    # ---- opening sessions ----------------------------------------------------------------

    async def open_session(self, user_id: str, for_app: str | None = None) -> UserSession | None:
        """The user's session on this node (see `server.sessions.open_session`). Glasses:
        the session is always returned (maybe waiting for the lease). An App: only if this
        node may serve the user and the user runs that App; ProtocolError if another node
        serves the user (it is told to ask the App again)."""
        if self.draining:
            raise ClusterUnavailable("this node is draining")
        try:
            if for_app is not None:
                return await self._open_for_app(user_id, for_app)
            claim = await self._claim_or_ask(user_id)
            if claim.owned:
                return await self._open_owned(user_id, claim)
            user = await self.server.store.get_user(user_id)
        except RedisError as exc:
            self.metrics.inc("cluster_redis_errors")
            raise ClusterUnavailable(str(exc)) from None
        existing = self.server.registry.get(user_id)
        if existing is not None:
            return existing
        log.info(
            "glasses accepted; waiting for node %s's lease", claim.node, extra={"userId": user_id}
        )
        self.metrics.inc("cluster_lease_waits")
        session, _ = self.server.registry.get_or_create(user_id, user.settings, resumable=False)
        first_wait = _until_free(claim, self.lease_seconds)
        self._waiting[user_id] = asyncio.get_running_loop().create_task(
            self._take_when_free(user_id, session, first_wait)
        )
        return session

    async def _open_for_app(self, user_id: str, package_name: str) -> UserSession | None:
        current = await self.leases.owner(user_id)
        if current is not None and current[0] != self.node_id:
            await self._tell(
                current[0], {"type": "ask_again", "user": user_id, "package": package_name}
            )
            raise ProtocolError(
                ErrorCode.SESSION_ON_OTHER_NODE,
                f"{user_id}'s session is served by node {current[0]}; it asks {package_name} "
                "again with its own URL.",
                "sessionId",
            )
        claim = await self.leases.claim(user_id)
        if not claim.owned:
            return None
        return await self._open_owned(user_id, claim, for_app=package_name)

    async def _claim_or_ask(self, user_id: str) -> Claim:
        """Claim the lease; if another node holds it, ask that node to let go. A live node
        says at once that it is letting go, and again once its lease is released (then we
        claim it); a node that says nothing within ACK_WAIT is taken for dead (then the
        caller waits for its lease to run out)."""
        claim = await self.leases.claim(user_id)
        if claim.owned:
            return claim
        handover = self._handovers.setdefault(user_id, Handover())
        try:
            await self._tell(claim.node, {"type": "release", "user": user_id})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(handover.acked.wait(), ACK_WAIT)
            if not handover.acked.is_set():
                return await self.leases.claim(user_id)  # one last look
            deadline = time.monotonic() + HANDOVER_WAIT
            while (left := deadline - time.monotonic()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(handover.released.wait(), min(left, 0.5))
                handover.released.clear()
                claim = await self.leases.claim(user_id)
                if claim.owned:
                    self.metrics.inc("cluster_takeovers", kind="handover")
                    return claim
            return claim
        finally:
            if self._handovers.get(user_id) is handover:
                del self._handovers[user_id]

    async def _take_user(self, user_id: str, claim: Claim) -> tuple[Claim, UserRecord, Settings]:
        """Write our epoch into the database and read what the session needs (one
        transaction). If Redis lost its counters (the database holds a newer epoch), claim
        again above it."""
        store = self.server.store
        generation = self.server.session_settings.generation
        try:
            user, settings = await store.take_user_for_session(user_id, claim.epoch)
        except FencedWrite as stale:
            await self.leases.release(user_id, claim.epoch)
            claim = await self.leases.claim(user_id, floor=stale.current_epoch)
            if not claim.owned:
                raise
            user, settings = await store.take_user_for_session(user_id, claim.epoch)
        return claim, user, (settings, generation)

    async def _open_owned(
        self, user_id: str, claim: Claim, for_app: str | None = None
    ) -> UserSession | None:
        existing = self.server.registry.get(user_id)
        if existing is not None and user_id in self.owned:
            return existing
        claim, user, settings = await self._take_user(user_id, claim)
        self.owned[user_id] = claim.epoch
        existing = self.server.registry.get(user_id)
        if existing is not None:
            return existing
        if for_app is not None and for_app not in user.running_apps:
            await self._release(user_id, claim.epoch)
            return None
        records = await records_of(self.server, user.running_apps)
        # Taking a user back from ourselves (a restart): the Apps reconnect by themselves.
        resumable = claim.node in ("", self.node_id)
        session, created = self.server.registry.get_or_create(
            user_id, user.settings, resumable=resumable
        )
        if created:
            self.server.session_settings.remember(session, *settings)
            session.restore(records, user.resume_state)
            if claim.fresh and claim.node and claim.node != self.node_id:
                self.metrics.inc("cluster_takeovers", kind="moved")
        return session

    async def _take_when_free(
        self, user_id: str, session: UserSession, first_wait: float
    ) -> None:
        """Glasses were accepted while a silent node held the lease: take the user over as
        soon as the lease is free. Each try sleeps until that lease would run out (or the
        old node says it lets go), so thousands of waiting users cost a claim or two each,
        not a poll every few milliseconds. The first sleep is what the caller's claim said
        was left (`first_wait`): that claim was made a moment ago."""
        wake = self._wakeups[user_id] = asyncio.Event()
        hurry_until = 0.0  # the old node said it lets go: its release is a moment away
        wait = first_wait
        try:
            while not session.disposed and not self.draining:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), wait)
                if wake.is_set():
                    hurry_until = time.monotonic() + HANDOVER_WAIT
                wake.clear()
                if session.disposed or self.draining:
                    return
                wait = LEASE_RETRY
                try:
                    claim = await self.leases.claim(user_id)
                    if claim.owned:
                        claim, user, settings = await self._take_user(user_id, claim)
                        break
                    wait = _until_free(claim, self.lease_seconds)
                    if time.monotonic() < hurry_until:
                        wait = HANDOVER_POLL
                except RedisError:
                    self.metrics.inc("cluster_redis_errors")
            else:
                return
            if session.disposed or self.server.registry.get(user_id) is not session:
                await self.leases.release(user_id, claim.epoch)
                return
            self.owned[user_id] = claim.epoch
            self.metrics.inc("cluster_takeovers", kind="expired")
            log.info("took the user over after the old lease expired", extra={"userId": user_id})
            self.server.session_settings.remember(session, *settings)
            session.restore(await records_of(self.server, user.running_apps), user.resume_state)
        finally:
            if self._waiting.get(user_id) is asyncio.current_task():
                del self._waiting[user_id]
            if self._wakeups.get(user_id) is wake:
                del self._wakeups[user_id]

    # ---- letting go --------------------------------------------------------------------------

    def _session_forgotten(self, session: UserSession) -> None:
        """A session ended or moved here: release the lease once its writes are done."""
        user_id = session.user_id
        waiting = self._waiting.pop(user_id, None)
        if waiting is not None:
            waiting.cancel()
        epoch = self.owned.get(user_id)
        if epoch is not None and not self.draining:
            self.server.tasks.spawn(self._release(user_id, epoch))

    async def _release(self, user_id: str, epoch: int) -> None:
        await self.server.effects.settled(user_id, SETTLE_TIMEOUT)
        asker = self._notify.pop(user_id, None)
        if self.server.registry.get(user_id) is not None and not self.draining:
            return  # the user came back here meanwhile: keep serving
        if self.owned.get(user_id) != epoch:
            return
        del self.owned[user_id]
        try:
            await self.leases.release(user_id, epoch)
        except RedisError:
            self.metrics.inc("cluster_redis_errors")  # it expires by itself
            return
        if asker is not None:
            await self._tell(asker, {"type": "released", "user": user_id})

    def _let_go(self, user_id: str, asker: str) -> bool:
        """Another node asks for the user (its glasses are there now). True if this node
        serves the user and lets go (the lease is released once its writes are done, and
        the asker told)."""
        session = self.server.registry.get(user_id)
        epoch = self.owned.get(user_id)
        if epoch is None:
            return False  # not ours to give (we may be waiting for that lease ourselves)
        self._notify[user_id] = asker
        if session is None:
            self.server.tasks.spawn(self._release(user_id, epoch))
            return True
        self.metrics.inc("cluster_handovers")
        log.info("letting the user go to another node", extra={"userId": user_id})
        session.save_resume_state()
        session.dispose(moved=CloseCode.NORMAL)
        self.server.tasks.spawn(self._close_stray_app_sockets(user_id))
        return True

    async def _close_stray_app_sockets(self, user_id: str) -> None:
        """The SDK drops an App's old socket when the new node's `session_request` reaches
        it; one still open after a while (that webhook failed) is closed with 1012, so the
        SDK reconnects here and is sent on to the new node."""
        await asyncio.sleep(MOVED_APP_GRACE)
        if self.server.registry.get(user_id) is not None:
            return
        for conn in list(self.server.connections):
            if conn.stats.user_id == user_id and conn.stats.package_name:
                conn.close(CloseCode.SERVICE_RESTART, "Session moved to another node")

    # ---- messages --------------------------------------------------------------------------

    async def _tell(self, node_id: str, message: dict[str, Any]) -> None:
        try:
            await self.bus.send(node_id, message)
        except RedisError:
            self.metrics.inc("cluster_redis_errors")

    async def announce(self, message: dict[str, Any]) -> None:
        """Tell every other node (App record changed, key rotated, App server restarted)."""
        try:
            await self.bus.broadcast(message)
        except RedisError:
            self.metrics.inc("cluster_redis_errors")

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        user_id = message.get("user")
        package_name = message.get("package")
        self.metrics.inc("cluster_messages", type=str(kind)[:32])
        asker = message.get("from")
        if kind == "release" and isinstance(user_id, str) and isinstance(asker, str):
            if self._let_go(user_id, asker):
                self.server.tasks.spawn(
                    self._tell(asker, {"type": "letting_go", "user": user_id})
                )
        elif kind in ("letting_go", "released") and isinstance(user_id, str):
            if (handover := self._handovers.get(user_id)) is not None:
                (handover.acked if kind == "letting_go" else handover.released).set()
            if (wake := self._wakeups.get(user_id)) is not None:
                wake.set()
        elif kind == "ask_again" and isinstance(user_id, str) and isinstance(package_name, str):
            session = self.server.registry.get(user_id)
            if session is not None and user_id in self.owned:
                session.restart_app(package_name, only_if_lost=True)
        elif isinstance(package_name, str):
            self.server.cluster_event(message)

    # ---- renewal and announcement ------------------------------------------------------------

    async def _renew_forever(self) -> None:
        interval = max(0.2, self.lease_seconds / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                for user_id in await self.leases.renew(dict(self.owned)):
                    self._lost(user_id)
                await self._announce()
                if not self.redis_up:
                    log.info("Redis is reachable again")
                self.redis_up = True
            except RedisError as exc:
                self.metrics.inc("cluster_redis_errors")
                if self.redis_up:
                    log.warning("Redis unreachable (%s); serving current users only", exc)
                self.redis_up = False

    def info(self) -> NodeInfo:
        config = self.server.config
        return NodeInfo(
            self.node_id,
            config.base_url,
            # where the other nodes send this node's users' REST calls: --internal-url, else
            # its public URL (the loopback default of --internal-url is for system Apps
            # beside this node; from another machine it would reach the wrong process)
            (config.internal_url or config.base_url).rstrip("/"),
            self.started_at,
            time.time(),
            len(self.server.registry),
            self.draining or self.server.draining,
        )

    async def _announce(self) -> None:
        sessions = [session_summary(s, self.node_id) for s in self.server.registry]
        await self.directory.announce(self.info(), sessions)

    # ---- REST calls for users served elsewhere ------------------------------------------------

    async def forward(
        self, request: web.Request, user_id: str, envelope: Envelope
    ) -> web.Response | None:
        """The owner node's answer to a REST call for a user it serves, or None when this
        node should answer (it serves the user, nobody does, or the call was forwarded)."""
        if was_forwarded(request) or user_id in self.owned:
            return None
        try:
            current = await self.leases.owner(user_id)
            info = None
            if current is not None and current[0] != self.node_id:
                info = await self.directory.get(current[0])
        except RedisError:
            self.metrics.inc("cluster_redis_errors")
            if self.server.registry.get(user_id) is not None:
                return None
            return error_response(unavailable(), envelope, self.metrics)
        if current is None or current[0] == self.node_id:
            return None
        answer = None
        if info is not None:
            answer = await self.forwarder.send_on(request, info.internal_url, current[0])
        if answer is None:
            return error_response(session_moving(user_id), envelope, self.metrics)
        self.metrics.inc("cluster_forwarded")
        return answer

    async def owner_url(self, user_id: str) -> str | None:
        """The internal URL of the other node that serves the user now, if one does."""
        try:
            current = await self.leases.owner(user_id)
            if current is None or current[0] == self.node_id:
                return None
            info = await self.directory.get(current[0])
        except RedisError:
            self.metrics.inc("cluster_redis_errors")
            return None
        return None if info is None else info.internal_url

    # ---- the operator's view -------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        nodes = await self.directory.nodes()
        return {
            "nodeId": self.node_id,
            "leaseSeconds": self.lease_seconds,
            "redisUp": self.redis_up,
            "nodes": [n.as_json() for n in nodes],
        }

    async def cluster_sessions(self) -> list[dict[str, Any]]:
        """Every node's sessions: this node's now, the others' as they published them
        (at most a third of a lease time old)."""
        mine = [session_summary(s, self.node_id) for s in self.server.registry]
        others = [n.node_id for n in await self.directory.nodes() if n.node_id != self.node_id]
        published = await self.directory.sessions(others)
        return mine + [s for node in others for s in published.get(node, [])]
