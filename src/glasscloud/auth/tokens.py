"""Core tokens: HS256 JWTs naming a user by e-mail, as the reference cloud issues them.

Reference tokens carry no `exp` and never expire, so none is required: a token without `exp`
keeps working. `glasscloud token EMAIL --expires 15m` issues one that carries it; an expired
token is refused with TOKEN_EXPIRED (checked here against the caller's clock, no leeway).

Every token this server signs says what it is in `typ` (`core`, `developer`, `app`) and is
accepted only where that kind belongs. Core tokens issued before the claim existed (and the
reference cloud's) have no `typ`; they are still core tokens, because the other two kinds
always carried theirs (docs/decisions.md, "Token kinds").
"""

from __future__ import annotations

import secrets
import time

import jwt

from glasscloud.protocol.errors import ErrorCode, ProtocolError

ALGORITHM = "HS256"

CORE_TOKEN_TYPE = "core"
DEVELOPER_TOKEN_TYPE = "developer"
APP_TOKEN_TYPE = "app"
_KIND_NAMES = {DEVELOPER_TOKEN_TYPE: "a developer token", APP_TOKEN_TYPE: "an App token"}

# Reference tokens may carry a non-string `sub` or `jti`; the user is named by `email` alone.
# `exp` is checked by `check_expiry` (exactly, against a clock tests can drive).
_DECODE_OPTIONS = {"verify_sub": False, "verify_jti": False, "verify_exp": False}


class TokenError(Exception):
    """A token was refused. `code` is machine-readable, `message` one sentence."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message

    def as_protocol_error(self, field: str | None = None) -> ProtocolError:
        return ProtocolError(self.code, self.message, field)


def generate_secret() -> str:
    """A new signing secret: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def issue_core_token(
    secret: str,
    email: str,
    sub: str | None = None,
    expires_in: float | None = None,
    now: float | None = None,
) -> str:
    """Sign a token for `email` (lower-cased). `sub` defaults to that e-mail; with
    `expires_in` (seconds) it carries `exp`."""
    normalised = email.strip().lower()
    if not normalised:
        raise ValueError("a core token needs a non-empty e-mail")
    issued = time.time() if now is None else now
    claims: dict[str, object] = {
        "typ": CORE_TOKEN_TYPE,
        "sub": sub if sub is not None else normalised,
        "email": normalised,
        "iat": int(issued),
    }
    if expires_in is not None:
        claims["exp"] = int(issued + expires_in)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def check_expiry(claims: dict[str, object], what: str, now: float | None = None) -> None:
    """Raise TOKEN_EXPIRED if `claims` has an `exp` at or before `now`; no `exp`: fine."""
    exp = claims.get("exp")
    if exp is None:
        return
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenError(ErrorCode.INVALID_TOKEN_CLAIMS, f"The {what} has an unusable `exp`.")
    if (time.time() if now is None else now) >= exp:
        raise TokenError(
            ErrorCode.TOKEN_EXPIRED,
            f"The {what} expired at {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(exp))}.",
        )


def verify_core_token(secret: str, token: str | None, now: float | None = None) -> str:
    """Check `token` and return its user id (the lower-cased `email` claim).

    Raises TokenError with code MISSING_TOKEN, INVALID_TOKEN (also for a developer or App
    token: they are signed with the same secret but are not core tokens) or
    INVALID_TOKEN_CLAIMS.
    """
    if token is None or not token.strip():
        raise TokenError(ErrorCode.MISSING_TOKEN, "No core token was provided.")
    try:
        claims = jwt.decode(
            token.strip(), secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS, leeway=60
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError(
            ErrorCode.INVALID_TOKEN,
            f"The core token is not a valid HS256 token for this server ({exc}).",
        ) from None
    kind = claims.get("typ", CORE_TOKEN_TYPE)
    if kind != CORE_TOKEN_TYPE:
        what = (
            _KIND_NAMES.get(kind, f"a token of kind {kind!r}")
            if isinstance(kind, str)
            else ("a token with an unusable `typ`")
        )
        raise TokenError(
            ErrorCode.INVALID_TOKEN,
            f"This is {what}, not a core token; the glasses and the phone routes need a "
            "core token (glasscloud token EMAIL).",
        )
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise TokenError(
            ErrorCode.INVALID_TOKEN_CLAIMS, "The core token has no usable email claim."
        )
    check_expiry(claims, "core token", now)
    return email.strip().lower()
