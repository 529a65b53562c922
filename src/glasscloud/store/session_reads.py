"""What opening a user's session reads, in one transaction: the user's record (settings,
which Apps run, what they resume with) and the user's stored settings of every App, so the
Apps binding a moment later need no read of their own (server/session_settings.py).

Why one operation: each Store operation is a hop to the Store's thread and a transaction
(~0.3-1 ms of CPU); a session with 2 Apps made 3 reads (`get_user`, then `get_app_settings`
per App). The statements are built once, with bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from glasscloud.core.records import UserRecord
from glasscloud.store import validation
from glasscloud.store.precompiled import Precompiled
from glasscloud.store.schema import user_apps, users

# Run on the driver's cursor (store/precompiled.py): rows are plain tuples, by position.
_USER = Precompiled(
    select(users.c.settings, users.c.resume_state).where(users.c.user_id == bindparam("uid"))
)
_APPS = Precompiled(
    select(user_apps.c.package_name, user_apps.c.running, user_apps.c.settings)
    .where(user_apps.c.user_id == bindparam("uid"))
    .order_by(user_apps.c.package_name)
)


class SessionReads:
    """Mixin: needs `_run` of `Store`."""

    _run: Callable[..., Awaitable[Any]]

    async def open_user(self, user_id: str) -> tuple[UserRecord, dict[str, dict[str, Any]]]:
        """The user's record (as `get_user`) and, by package, the user's stored values of
        each App's settings (as `get_app_settings`; Apps without stored values left out)."""
        uid = validation.user_id(user_id)
        return await self._run(lambda conn: read_for_session(conn, uid))


# A node taking the user over (cluster mode): raise the fencing epoch and read the user's
# row in one statement, unless a newer owner's epoch is stored (then no row comes back).
# Its row is (settings, resume_state), as `_USER`'s.
TAKE_USER = Precompiled(
    update(users)
    .where(users.c.user_id == bindparam("uid"), users.c.owner_epoch <= bindparam("epoch"))
    .values(owner_epoch=bindparam("epoch"))
    .returning(users.c.settings, users.c.resume_state)
)


def take_user_row(conn: Connection, uid: str, epoch: int) -> Any:
    """Raise the user's `owner_epoch` to `epoch` unless a higher one is stored; the user's
    (settings, resume_state), or None if no row was changed (no such user, or a newer
    owner's epoch is stored)."""
    rows = TAKE_USER.rows(conn, {"uid": uid, "epoch": epoch})
    return rows[0] if rows else None


def read_for_session(
    conn: Connection, uid: str, owner_epoch: int = 0, user_row: Any = None
) -> tuple[UserRecord, dict[str, dict[str, Any]]]:
    """`open_user`'s reads on an open transaction (also `Store.take_user_for_session`,
    which passes the user's (settings, resume_state) it already read as `user_row`)."""
    params = {"uid": uid}
    if user_row is None:
        found = _USER.rows(conn, params)
        user_row = found[0] if found else (None, None)
    settings_json, resume_json = user_row
    apps = _APPS.rows(conn, params)
    record = UserRecord(
        user_id=uid,
        running_apps=tuple(package for package, running, _ in apps if running),
        settings=json.loads(settings_json) if settings_json else {},
        resume_state=json.loads(resume_json) if resume_json else {},
        owner_epoch=owner_epoch,
    )
    stored = {package: json.loads(values) for package, _, values in apps if values}
    return record, {p: v for p, v in stored.items() if v}
