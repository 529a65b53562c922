"""API keys and core tokens."""

from __future__ import annotations

import hashlib
import time

import jwt
import pytest

from glasscloud.auth.apikeys import generate_api_key, hash_api_key, verify_api_key
from glasscloud.auth.tokens import (
    TokenError,
    generate_secret,
    issue_core_token,
    verify_core_token,
)

SECRET = "a-test-secret-long-enough-for-hs256-and-for-the-hs512-case-below-too"


# -- API keys ------------------------------------------------------------------------------


def test_generated_key_is_64_lowercase_hex_and_unique():
    keys = {generate_api_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert len(key) == 64
        assert key == key.lower()
        int(key, 16)


def test_hash_is_unsalted_sha256_hex():
    assert hash_api_key("abc") == hashlib.sha256(b"abc").hexdigest()
    assert hash_api_key("abc") == hash_api_key("abc")


def test_verify_accepts_the_key_and_rejects_others():
    key = generate_api_key()
    stored = hash_api_key(key)
    assert verify_api_key(key, stored)
    assert not verify_api_key(generate_api_key(), stored)
    assert not verify_api_key("", stored)


def test_verify_rejects_an_empty_hash():
    assert not verify_api_key("", "")
    assert not verify_api_key("anything", "")


# -- core tokens -----------------------------------------------------------------------------


def test_secret_is_urlsafe_and_long():
    secret = generate_secret()
    assert len(secret) >= 43
    assert secret != generate_secret()
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_issue_then_verify_returns_the_lowercased_email():
    token = issue_core_token(SECRET, "  Alice@Example.COM ")
    assert verify_core_token(SECRET, token) == "alice@example.com"


def test_issued_claims_match_the_reference_shape():
    before = int(time.time())
    token = issue_core_token(SECRET, "Bob@Example.com")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert header["alg"] == "HS256"
    assert claims["email"] == "bob@example.com"
    assert claims["sub"] == "bob@example.com"
    assert isinstance(claims["iat"], int)
    assert before <= claims["iat"] <= int(time.time())
    assert "exp" not in claims


def test_explicit_sub_is_kept():
    token = issue_core_token(SECRET, "c@example.com", sub="user-123")
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["sub"] == "user-123"


def test_issue_rejects_an_empty_email():
    with pytest.raises(ValueError):
        issue_core_token(SECRET, "  ")


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_token(token):
    with pytest.raises(TokenError) as info:
        verify_core_token(SECRET, token)
    assert info.value.code == "MISSING_TOKEN"
    assert info.value.message


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b.c",
        issue_core_token("another-secret-that-is-also-32-bytes-or-more", "x@example.com"),
        jwt.encode({"email": "x@example.com"}, SECRET, algorithm="HS512"),
        jwt.encode({"email": "x@example.com"}, None, algorithm="none"),
    ],
    ids=["garbage", "three-parts", "wrong-secret", "hs512", "alg-none"],
)
def test_invalid_token(token):
    with pytest.raises(TokenError) as info:
        verify_core_token(SECRET, token)
    assert info.value.code == "INVALID_TOKEN"
    assert info.value.message.endswith(".")


@pytest.mark.parametrize(
    "claims",
    [{"sub": "x"}, {"email": ""}, {"email": 42}, {"email": None}],
    ids=["absent", "empty", "number", "null"],
)
def test_token_without_usable_email(claims):
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(TokenError) as info:
        verify_core_token(SECRET, token)
    assert info.value.code == "INVALID_TOKEN_CLAIMS"


def test_reference_style_token_without_iat_or_exp_and_numeric_sub_is_accepted():
    token = jwt.encode({"email": "Ref@Example.com", "sub": 7}, SECRET, algorithm="HS256")
    assert verify_core_token(SECRET, token) == "ref@example.com"


def test_token_error_is_an_exception_with_code_and_message():
    error = TokenError("INVALID_TOKEN", "The token is bad.")
    assert str(error) == "The token is bad."
    assert (error.code, error.message) == ("INVALID_TOKEN", "The token is bad.")
