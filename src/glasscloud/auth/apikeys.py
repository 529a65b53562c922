"""App API keys: random hex keys, stored only as an unsalted SHA-256 hex digest.

The digest is unsalted on purpose: the reference cloud stores keys that way, so key hashes
move between the two without re-issuing keys. Keys are 256 random bits, so a salt would add
nothing against guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def generate_api_key() -> str:
    """A new API key: 32 random bytes as 64 lower-case hex characters."""
    return secrets.token_hex(32)


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest of `key` (what the store keeps)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def verify_api_key(key: str, key_hash: str) -> bool:
    """Whether `key` hashes to `key_hash`, compared in constant time. False for an empty hash."""
    if not key_hash or not isinstance(key, str):
        return False
    return hmac.compare_digest(hash_api_key(key), key_hash.lower())
