"""Key rotation is revocation: App sockets admitted under an older key version are closed.

Each App socket is recorded at admission with the key version it proved (the API key's
version for `tpa_connection_init`, the token's `kv` for header authentication). A rotation
through the developer API closes the stale sockets at once; one made by another process
(`glasscloud apps rotate-key` writes the shared database) is noticed by a cheap periodic
query of the key versions of the Apps that have live sockets (one query per interval, none
while no App is connected).

A revoked socket gets `tpa_connection_error` with `API_KEY_ROTATED` and is closed with 1000:
the SDK reports the error, runs `onStop` and does not reconnect with the dead key (1008 would
leave a zombie session inside the SDK). The core sees an ordinary App
close; its grace and restart rules decide what comes next (a restart reaches an App server
that now holds the new key).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from glasscloud.core.metrics import Metrics
from glasscloud.protocol import app as wire
from glasscloud.protocol.close_codes import CloseCode
from glasscloud.protocol.errors import ErrorCode
from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.server.background import cancel_and_wait
from glasscloud.server.connection import WsConnection

log = logging.getLogger("glasscloud.apps")

KeyVersions = Callable[[Sequence[str]], Awaitable[dict[str, int]]]


class KeyRevocations:
    def __init__(self, key_versions: KeyVersions, metrics: Metrics, interval: float) -> None:
        self._key_versions = key_versions
        self._metrics = metrics
        self._interval = interval
        # socket -> (package, key version it authenticated with)
        self._admitted: dict[WsConnection, tuple[str, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def admitted(self, conn: WsConnection, package_name: str, key_version: int) -> None:
        self._admitted[conn] = (package_name, key_version)

    def forget(self, conn: WsConnection) -> None:
        self._admitted.pop(conn, None)

    def key_rotated(self, package_name: str, key_version: int) -> int:
        """Close every socket of `package_name` admitted under a version below
        `key_version`. Returns how many were closed."""
        stale = [
            conn
            for conn, (package, version) in self._admitted.items()
            if package == package_name and version < key_version
        ]
        for conn in stale:
            self._revoke(conn, package_name)
        return len(stale)

    def _revoke(self, conn: WsConnection, package_name: str) -> None:
        del self._admitted[conn]
        message = (
            f"The API key of {package_name} was rotated; this connection used the old key "
            "and is closed."
        )
        self._metrics.inc("app_revoked", reason=ErrorCode.API_KEY_ROTATED.value)
        log.info("App socket revoked: key rotated", extra={"packageName": package_name})
        conn.send_text(
            wire.connection_error(ErrorCode.API_KEY_ROTATED, message, iso_timestamp(time.time()))
        )
        conn.close(CloseCode.NORMAL, "API key rotated")

    async def check_once(self) -> int:
        """Compare the recorded versions with the database's; close the stale sockets."""
        packages = {package for package, _ in self._admitted.values()}
        if not packages:
            return 0
        current = await self._key_versions(sorted(packages))
        closed = 0
        for package, version in current.items():
            closed += self.key_rotated(package, version)
        return closed

    def start(self) -> None:
        if self._task is None and self._interval > 0:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.check_once()
            except Exception:  # a database hiccup must not end the checks
                log.warning("key version check failed", exc_info=True)
