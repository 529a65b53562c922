"""Core tokens: HS256 JWTs naming a user by e-mail, as the reference cloud issues them.

Reference tokens carry no `exp` and never expire, so none is issued and none is required;
revoking access means changing the secret.
"""

from __future__ import annotations

import secrets
import time

import jwt

ALGORITHM = "HS256"

# Reference tokens may carry a non-string `sub` or `jti`; the user is named by `email` alone.
_DECODE_OPTIONS = {"verify_sub": False, "verify_jti": False}


class TokenError(Exception):
    """A core token was refused. `code` is machine-readable, `message` one sentence."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def generate_secret() -> str:
    """A new signing secret: 32 random bytes, URL-safe base64."""
    return secrets.token_urlsafe(32)


def issue_core_token(secret: str, email: str, sub: str | None = None) -> str:
    """Sign a token for `email` (lower-cased). `sub` defaults to that e-mail."""
    normalised = email.strip().lower()
    if not normalised:
        raise ValueError("a core token needs a non-empty e-mail")
    claims = {
        "sub": sub if sub is not None else normalised,
        "email": normalised,
        "iat": int(time.time()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_core_token(secret: str, token: str | None) -> str:
    """Check `token` and return its user id (the lower-cased `email` claim).

    Raises TokenError with code MISSING_TOKEN, INVALID_TOKEN or INVALID_TOKEN_CLAIMS.
    """
    if token is None or not token.strip():
        raise TokenError("MISSING_TOKEN", "No core token was provided.")
    try:
        claims = jwt.decode(
            token.strip(), secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS, leeway=60
        )
    except jwt.InvalidTokenError as exc:
        raise TokenError(
            "INVALID_TOKEN", f"The core token is not a valid HS256 token for this server ({exc})."
        ) from None
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise TokenError("INVALID_TOKEN_CLAIMS", "The core token has no usable email claim.")
    return email.strip().lower()
