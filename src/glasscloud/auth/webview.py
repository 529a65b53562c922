"""Webview sign-in: what the phone asks for before it opens an App's webview, and what the
SDK's `createAuthMiddleware` checks (`@mentra/sdk` 2.1.29, `src/app/webview`).

- A temporary token (`aos_temp_token`): 32 random bytes, valid `TEMP_TOKEN_TTL` seconds, for
  one (user, App), usable once; the App trades it for the user id at `exchange-user-token`
  with its own API key. The store keeps only its SHA-256 digest.
- A signed user token (`aos_signed_user_token`): an RS256 JWT with `iss` = `ISSUER` (the
  only issuer the SDK accepts), `sub` = the user, `exp`; the SDK verifies it offline with
  `MENTRAOS_CLOUD_USER_TOKEN_PUBLIC_KEY`. glasscloud signs with its own RSA key pair, made once
  and kept in the store (`USER_TOKEN_KEY_META`); the public half is printed by
  `glasscloud user-token-key` and served at `GET /api/auth/user-token-public-key`.
- `cloudApiUrlChecksum` = sha256(cloudApiUrl + sha256hex(apiKey)), which proves to the App that
  its cloud chose that URL; and the frontend token `userId:sha256(userId + sha256hex(apiKey))`.
  Both need only sha256hex(apiKey), which is exactly the hash the store keeps, so no raw key is
  ever needed on the server.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://prod.augmentos.cloud"  # the SDK's verifySignedUserToken accepts only this
ALGORITHM = "RS256"
TEMP_TOKEN_TTL = 60.0
SIGNED_TOKEN_TTL = 300  # seconds; the SDK adds a 120 s grace period
USER_TOKEN_KEY_META = "user_token_private_key"


def new_temp_token() -> str:
    return secrets.token_urlsafe(32)


def hash_with_key_hash(text: str, api_key_hash: str) -> str:
    """sha256(text + sha256hex(apiKey)), given sha256hex(apiKey) (the stored key hash)."""
    return hashlib.sha256((text + api_key_hash.lower()).encode("utf-8")).hexdigest()


def frontend_token(user_id: str, api_key_hash: str) -> str:
    return f"{user_id}:{hash_with_key_hash(user_id, api_key_hash)}"


def generate_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode("ascii"), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def issue_signed_user_token(
    private_pem: str,
    user_id: str,
    package_name: str,
    api_key_hash: str,
    now: float | None = None,
) -> str:
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": user_id,
        "iss": ISSUER,
        "aud": package_name,
        "frontendToken": frontend_token(user_id, api_key_hash),
        "iat": issued,
        "exp": issued + SIGNED_TOKEN_TTL,
    }
    return jwt.encode(claims, private_pem, algorithm=ALGORITHM)


def verify_signed_user_token(
    public_pem: str, token: str, package_name: str | None = None, leeway: float = 120
) -> str | None:
    """The user id of a valid signed user token, else None (the SDK's check: RS256, `iss`,
    time with a 120 s grace; plus the audience when `package_name` is given)."""
    options = {"verify_aud": package_name is not None, "require": ["sub", "exp", "iss"]}
    try:
        claims = jwt.decode(
            token,
            public_pem,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=package_name,
            leeway=leeway,
            options=options,
        )
    except jwt.InvalidTokenError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) and sub else None
