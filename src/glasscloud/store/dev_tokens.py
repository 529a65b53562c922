"""Developer tokens as Store operations (a mixin of `Store`): each one issued is recorded
(id, e-mail, issue and expiry time), so it can be listed and revoked. The token itself is
never stored; it cannot be rebuilt from a row."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Connection

from glasscloud.store.errors import StoreError
from glasscloud.store.schema import developer_tokens


class DeveloperTokenNotFound(StoreError):
    """No developer token has that id."""


@dataclass(frozen=True, slots=True)
class DeveloperTokenRecord:
    token_id: str
    email: str
    issued_at: int
    expires_at: int | None
    revoked_at: int | None

    def state(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def as_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "email": self.email,
            "issuedAt": self.issued_at,
            "expiresAt": self.expires_at,
            "revokedAt": self.revoked_at,
            "state": self.state(now),
        }


class DeveloperTokenStore:
    """Mixin: needs `_run` of `Store`."""

    _run: Callable[..., Awaitable[Any]]

    async def record_developer_token(
        self, token_id: str, email: str, issued_at: int, expires_at: int | None
    ) -> None:
        statement = developer_tokens.insert().values(
            token_id=token_id, email=email, issued_at=issued_at, expires_at=expires_at
        )

        def op(conn: Connection) -> None:
            conn.execute(statement)

        await self._run(op, write=True)

    async def list_developer_tokens(self) -> list[DeveloperTokenRecord]:
        query = select(developer_tokens).order_by(developer_tokens.c.issued_at)

        def op(conn: Connection) -> list[DeveloperTokenRecord]:
            return [
                DeveloperTokenRecord(r.token_id, r.email, r.issued_at, r.expires_at, r.revoked_at)
                for r in conn.execute(query)
            ]

        return await self._run(op)

    async def revoke_developer_token(self, token_id: str, now: float | None = None) -> None:
        """Mark it revoked (again: no change). Raises DeveloperTokenNotFound."""
        at = int(time.time() if now is None else now)
        statement = (
            update(developer_tokens)
            .where(developer_tokens.c.token_id == token_id)
            .values(revoked_at=developer_tokens.c.revoked_at)
        )
        first = (
            update(developer_tokens)
            .where(developer_tokens.c.token_id == token_id)
            .where(developer_tokens.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

        def op(conn: Connection) -> None:
            if conn.execute(first).rowcount == 0 and conn.execute(statement).rowcount == 0:
                raise DeveloperTokenNotFound(f"no developer token has the id '{token_id}'")

        await self._run(op, write=True)

    async def revoked_developer_token_ids(self, now: float | None = None) -> set[str]:
        """Ids revoked and not yet expired (an expired token is refused anyway), so the set
        stays as small as the live revocations."""
        at = int(time.time() if now is None else now)
        c = developer_tokens.c
        query = select(c.token_id).where(
            c.revoked_at.is_not(None), or_(c.expires_at.is_(None), c.expires_at > at)
        )

        def op(conn: Connection) -> set[str]:
            return {row[0] for row in conn.execute(query)}

        return await self._run(op)
