"""The user's stored App settings, read when the session opens (with the user's record, in
one Store operation: store/session_reads.py) and handed to each App's first bind, instead of
one `get_app_settings` read per App bind.

Rules, and why:
- each App takes its prefetched values once; a later bind of the same App (a reconnect)
  reads the store, as before;
- the values are used only within `ttl` seconds (10 s) of the read; an App that binds later
  reads the store;
- a change of a user's settings through this process (settings_api) drops what was
  prefetched for that App; a read that was in flight when a change was made is not kept
  (a generation count), so a bind never gets values older than a change this process made.
Entries live as long as their session (weak keys): a session that ends leaves nothing.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glasscloud.core.session import UserSession

if TYPE_CHECKING:
    from glasscloud.server.app import GlasscloudServer

DEFAULT_TTL = 10.0


@dataclass
class _Prefetched:
    expires: float
    settings: dict[str, dict[str, Any]]
    taken: set[str] = field(default_factory=set)


class PrefetchedSettings:
    def __init__(self, ttl: float = DEFAULT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._by_session: weakref.WeakKeyDictionary[UserSession, _Prefetched] = (
            weakref.WeakKeyDictionary()
        )
        self.generation = 0
        """Read before the store read; `remember` ignores values read before a change."""

    def remember(
        self, session: UserSession, settings: dict[str, dict[str, Any]], generation: int
    ) -> None:
        """The user's stored settings of every App, read when `generation` was current."""
        if generation == self.generation:
            self._by_session[session] = _Prefetched(self._clock() + self.ttl, settings)

    def take(self, session: UserSession, package_name: str) -> dict[str, Any] | None:
        """The App's prefetched stored values ({} when none are stored), once; None when
        there are none to use (never read, expired, taken, or changed since)."""
        entry = self._by_session.get(session)
        if entry is None or package_name in entry.taken or self._clock() >= entry.expires:
            return None
        entry.taken.add(package_name)
        return entry.settings.get(package_name, {})

    def changed(self, session: UserSession | None, package_name: str) -> None:
        """The user's settings of the App changed (after the write): drop the prefetched."""
        self.generation += 1
        entry = self._by_session.get(session) if session is not None else None
        if entry is not None:
            entry.taken.add(package_name)


async def stored_settings_for_bind(
    server: GlasscloudServer, session: UserSession, user_id: str, package_name: str
) -> dict[str, Any]:
    """The user's stored values of the App's settings for its `tpa_connection_ack`."""
    stored = server.session_settings.take(session, package_name)
    if stored is None:
        stored = await server.store.get_app_settings(user_id, package_name)
    return stored
