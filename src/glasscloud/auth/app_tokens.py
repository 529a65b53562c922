"""App tokens and developer tokens: HS256 JWTs signed with the server secret.

An App token names a package and the key version it was issued under (`kv`); rotating the
App's API key bumps the version, which revokes every token issued before. Unlike the
reference's App JWT, no API key is carried inside the token.

A developer token (`typ: "developer"`) authorises the developer REST API (`/api/dev/...`)
and the operator routes (`/api/admin/...`); it is issued on the server's machine by
`glasscloud dev-token`, by whoever can read the database or the secret. Since the operator
issue it carries a token id (`jti`, listed and revoked with `glasscloud dev-token list` /
`revoke ID`; the server keeps a cached set of revoked ids, `server/dev_tokens.py`) and an
`exp` (90 days unless `--expires` says otherwise). Developer tokens issued before have
neither and keep working (docs/decisions.md, "Revocable developer tokens").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from glasscloud.auth.tokens import (
    ALGORITHM,
    APP_TOKEN_TYPE,
    DEVELOPER_TOKEN_TYPE,
    TokenError,
    check_expiry,
)
from glasscloud.protocol.errors import ErrorCode


@dataclass(frozen=True, slots=True)
class AppClaims:
    package_name: str
    key_version: int


def issue_app_token(secret: str, package_name: str, key_version: int) -> str:
    claims = {
        "typ": APP_TOKEN_TYPE,
        "packageName": package_name,
        "kv": key_version,
        "iat": int(time.time()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


DEFAULT_DEVELOPER_TOKEN_LIFETIME = 90 * 86400.0


@dataclass(frozen=True, slots=True)
class DeveloperClaims:
    email: str
    token_id: str | None  # None: a token from before ids existed (cannot be revoked alone)
    issued_at: int
    expires_at: int | None


def new_token_id() -> str:
    return secrets.token_hex(8)


def issue_developer_token(
    secret: str,
    email: str,
    token_id: str | None = None,
    expires_in: float | None = None,
    now: float | None = None,
) -> str:
    """`token_id` and `expires_in` (seconds) become `jti` and `exp` when given."""
    normalised = email.strip().lower()
    if not normalised:
        raise ValueError("a developer token needs a non-empty e-mail")
    issued = time.time() if now is None else now
    claims: dict[str, Any] = {
        "typ": DEVELOPER_TOKEN_TYPE,
        "email": normalised,
        "iat": int(issued),
    }
    if token_id is not None:
        claims["jti"] = token_id
    if expires_in is not None:
        claims["exp"] = int(issued + expires_in)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def _decode(secret: str, token: str | None, what: str) -> dict[str, Any]:
    if token is None or not token.strip():
        raise TokenError(ErrorCode.MISSING_TOKEN, f"No {what} was provided.")
    try:
        header = jwt.get_unverified_header(token.strip())
    except jwt.InvalidTokenError:
        raise TokenError(ErrorCode.INVALID_JWT, f"The {what} is not a JWT.") from None
    if header.get("alg") != ALGORITHM:
        raise TokenError(ErrorCode.INVALID_JWT, f"The {what} must be signed with {ALGORITHM}.")
    try:
        return jwt.decode(
            token.strip(),
            secret,
            algorithms=[ALGORITHM],
            leeway=60,
            options={"verify_exp": False, "verify_jti": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenError(
            ErrorCode.JWT_SIGNATURE_FAILED, f"The {what} was not signed by this server."
        ) from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(ErrorCode.INVALID_JWT, f"The {what} is not valid ({exc}).") from None


def verify_app_token(secret: str, token: str | None) -> AppClaims:
    """Raises TokenError: MISSING_TOKEN, INVALID_JWT, JWT_SIGNATURE_FAILED."""
    claims = _decode(secret, token, "App token")
    package = claims.get("packageName")
    version = claims.get("kv")
    if claims.get("typ") != APP_TOKEN_TYPE or not isinstance(package, str) or not package:
        raise TokenError(ErrorCode.INVALID_JWT, "The token is not an App token (no packageName).")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TokenError(ErrorCode.INVALID_JWT, "The App token has no key version (kv).")
    return AppClaims(package, version)


def developer_token_claims(
    secret: str, token: str | None, now: float | None = None
) -> DeveloperClaims:
    """Check signature, kind and expiry (not revocation: the server's cache does that).
    Raises TokenError."""
    claims = _decode(secret, token, "developer token")
    email = claims.get("email")
    if claims.get("typ") != DEVELOPER_TOKEN_TYPE or not isinstance(email, str):
        raise TokenError(
            ErrorCode.NOT_A_DEVELOPER_TOKEN,
            "This route needs a developer token (glasscloud dev-token EMAIL).",
        )
    check_expiry(claims, "developer token", now)
    token_id = claims.get("jti")
    exp = claims.get("exp")
    iat = claims.get("iat")
    return DeveloperClaims(
        email,
        token_id if isinstance(token_id, str) else None,
        int(iat) if isinstance(iat, int | float) else 0,
        int(exp) if isinstance(exp, int | float) else None,
    )


def verify_developer_token(secret: str, token: str | None, now: float | None = None) -> str:
    """The developer's e-mail. Raises TokenError."""
    return developer_token_claims(secret, token, now).email
