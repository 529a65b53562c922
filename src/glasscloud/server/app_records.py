"""App records, cached for a short time: the hot paths (a glasses `start_app`, an App's
`tpa_connection_init`, a session bringing back the user's Apps) read the same few records
thousands of times when users reconnect together, and each read was a Store operation
(~0.6 ms of CPU). The cache turns a storm of reads into one read per App per TTL.

Rules, and why:
- an entry lives at most `ttl` seconds (default 2 s): a change made by another process
  directly in the database (`glasscloud apps rotate-key`, `apps update`) is seen within
  that; sockets admitted meanwhile with a rotated key are closed by the key-version check
  (server/revocation.py), as any socket admitted before the rotation is;
- a change made through this process (the developer API: update, delete, rotate-key,
  create) calls `invalidate(package)` right after the write, so the next read is fresh:
  a rotated key is refused at once for new connections;
- concurrent misses for one App share one read (a storm costs one Store operation), but a
  read that was in flight when the entry was invalidated is never cached, and reads asked
  for after the invalidation start a new one;
- an absent App (None) is not cached: a package registered a moment later is found at once,
  and unknown names cannot fill the memory.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from glasscloud.core.records import AppRecord

DEFAULT_TTL = 2.0

Load = Callable[[str], Awaitable[AppRecord | None]]


class AppRecordCache:
    """`get` an App's record through a short-lived cache in front of `load` (the Store's
    `get_app`); `invalidate` after this process changes a record."""

    def __init__(
        self,
        load: Load,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, AppRecord]] = {}  # package -> (expires, record)
        self._loading: dict[str, asyncio.Future[AppRecord | None]] = {}
        self._generation = 0  # bumped by every invalidate: an older read is not cached
        self._reads: set[asyncio.Task[None]] = set()  # referenced until done

    async def get(self, package_name: str) -> AppRecord | None:
        """The App's record (at most `ttl` seconds old), or None if there is no such App.
        A Store failure propagates to every caller waiting on that read."""
        entry = self._entries.get(package_name)
        if entry is not None:
            if self._clock() < entry[0]:
                return entry[1]
            del self._entries[package_name]
        pending = self._loading.get(package_name)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._loading[package_name] = pending
            read = asyncio.get_running_loop().create_task(self._read(package_name, pending))
            self._reads.add(read)
            read.add_done_callback(self._reads.discard)
        return await asyncio.shield(pending)

    async def _read(self, package_name: str, pending: asyncio.Future[AppRecord | None]) -> None:
        generation = self._generation
        try:
            record = await self._load(package_name)
        except Exception as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: no "never retrieved" warning without waiters
            return
        except BaseException:
            pending.cancel()
            raise
        finally:
            if self._loading.get(package_name) is pending:
                del self._loading[package_name]
        if record is not None and generation == self._generation and self.ttl > 0:
            self._entries[package_name] = (self._clock() + self.ttl, record)
        pending.set_result(record)

    def invalidate(self, package_name: str | None = None) -> None:
        """Forget one App's record (None: every record). Reads in flight are not cached and
        later `get`s read again."""
        self._generation += 1
        if package_name is None:
            self._entries.clear()
            self._loading.clear()
        else:
            self._entries.pop(package_name, None)
            self._loading.pop(package_name, None)
