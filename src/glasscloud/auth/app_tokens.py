"""App tokens and developer tokens: HS256 JWTs signed with the server secret.

An App token names a package and the key version it was issued under (`kv`); rotating the
App's API key bumps the version, which revokes every token issued before. Unlike the
reference's App JWT, no API key is carried inside the token.

A developer token (`typ: "developer"`) authorises the developer REST API (`/api/dev/...`)
and the operator routes (`/api/admin/...`); it is issued on the server's machine by
`glasscloud dev-token`, by whoever can read the database or the secret.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from glasscloud.auth.tokens import (
    ALGORITHM,
    APP_TOKEN_TYPE,
    DEVELOPER_TOKEN_TYPE,
    TokenError,
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


def issue_developer_token(secret: str, email: str) -> str:
    normalised = email.strip().lower()
    if not normalised:
        raise ValueError("a developer token needs a non-empty e-mail")
    claims = {"typ": DEVELOPER_TOKEN_TYPE, "email": normalised, "iat": int(time.time())}
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
        return jwt.decode(token.strip(), secret, algorithms=[ALGORITHM], leeway=60)
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


def verify_developer_token(secret: str, token: str | None) -> str:
    """The developer's e-mail. Raises TokenError."""
    claims = _decode(secret, token, "developer token")
    email = claims.get("email")
    if claims.get("typ") != DEVELOPER_TOKEN_TYPE or not isinstance(email, str):
        raise TokenError(
            ErrorCode.NOT_A_DEVELOPER_TOKEN,
            "This route needs a developer token (glasscloud dev-token EMAIL).",
        )
    return email
