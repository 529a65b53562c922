"""Opening a user's session from the store: the one place the shell fetches what a new
session brings back (the Apps the user ran, what they showed). The core decides how each
App comes back (`AppLifecycle.restore`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glasscloud.core.session import UserSession
from glasscloud.protocol.errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiohttp import web

    from glasscloud.core.records import AppRecord
    from glasscloud.server.app import GlasscloudServer


class ClusterUnavailable(Exception):
    """Cluster mode: Redis cannot be reached (or this node drains), so no new session can
    be placed here."""


def unavailable() -> ProtocolError:
    return ProtocolError(
        ErrorCode.CLUSTER_UNAVAILABLE,
        "This node cannot reach Redis, so it cannot open a session for this user now.",
    )


def session_moving(user_id: str) -> ProtocolError:
    return ProtocolError(
        ErrorCode.SESSION_MOVING,
        f"{user_id}'s session is still held by a node that stopped answering; it moves here "
        "when that node's lease expires.",
    )


async def open_session(
    server: GlasscloudServer, user_id: str, for_app: str | None = None
) -> UserSession | None:
    """The user's live session, opened now if there is none. With `for_app` (an App
    reconnecting after a restart, before the glasses), a session is opened only if the user
    was running that App; otherwise None. In cluster mode `ClusterUnavailable` (no Redis)
    or, for an App, a ProtocolError (another node serves the user) may be raised."""
    session = server.registry.get(user_id)
    if session is not None:
        return session
    if server.cluster is not None:  # the lease first (cluster/node.py)
        return await server.cluster.open_session(user_id, for_app)
    generation = server.session_settings.generation
    user, app_settings = await server.store.open_user(user_id)
    if for_app is not None and for_app not in user.running_apps:
        return None
    records = await records_of(server, user.running_apps)
    session, created = server.registry.get_or_create(user_id, user.settings)
    if created:
        server.session_settings.remember(session, app_settings, generation)
        session.restore(records, user.resume_state)
    return session


async def served_elsewhere(
    server: GlasscloudServer, request: web.Request, user_id: str
) -> web.Response | None:
    """Cluster mode: the answer of the node that serves the user, if another one does (the
    call is sent on there: cluster/forwarding.py); None: answer here."""
    if server.cluster is None:
        return None
    from glasscloud.server.http_errors import Envelope

    return await server.cluster.forward(request, user_id, Envelope.PHONE)


async def records_of(server: GlasscloudServer, packages: Sequence[str]) -> list[AppRecord]:
    """The records of the Apps a user ran (one that was deleted since is left out)."""
    return [r for p in packages if (r := await server.app_records.get(p)) is not None]
