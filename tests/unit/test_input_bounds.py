"""Bounds on peer input: JSON depth, display durations, bitmap data, package names, token
kinds. Each refusal is a coded error naming the field."""

from __future__ import annotations

import json

import pytest

from glasscloud.auth.app_tokens import issue_app_token, issue_developer_token
from glasscloud.auth.tokens import TokenError, issue_core_token, verify_core_token
from glasscloud.protocol.app import MAX_DURATION_MS, decode_app_message
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.glasses import decode_glasses_message
from glasscloud.protocol.jsonio import (
    MAX_JSON_DEPTH,
    decode_body,
    decode_json,
    decode_object,
    nesting_exceeds,
)
from glasscloud.protocol.validate import MAX_PACKAGE_NAME, check_package_name
from glasscloud.store import validation
from glasscloud.store.errors import StoreError

SECRET = "unit-secret-0123456789abcdef0123456789"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 100_000])
def test_json_deeper_than_the_limit_is_malformed_not_a_recursion_error(depth):
    for decode in (decode_json, decode_object, decode_body):
        with pytest.raises(ProtocolError) as info:
            decode(nested(depth).encode() if decode is decode_body else nested(depth))
        assert info.value.code is ErrorCode.MALFORMED_MESSAGE
        assert f"more than {MAX_JSON_DEPTH} levels" in info.value.message


def test_json_at_the_limit_and_brackets_inside_strings_are_fine():
    assert decode_json(nested(MAX_JSON_DEPTH)) is not None
    text = json.dumps({"type": "x", "text": "[" * 500, "list": [[i] for i in range(200)]})
    assert decode_object(text)["text"] == "[" * 500


def test_nesting_exceeds_counts_objects_and_arrays():
    value = {"a": [{"b": [1]}]}
    assert not nesting_exceeds(value, 4)
    assert nesting_exceeds(value, 3)
    assert not nesting_exceeds("scalar", 0)


def test_body_must_be_an_object():
    for body in (b"", b"[]", b"{oops"):
        with pytest.raises(ProtocolError) as info:
            decode_body(body)
        assert info.value.code is ErrorCode.MALFORMED_MESSAGE


def display(**fields) -> str:
    return json.dumps({"type": "display_event", **fields})


TEXT = {"layoutType": "text_wall", "text": "hi"}


@pytest.mark.parametrize("duration", [1e308, -5, MAX_DURATION_MS + 1])
def test_duration_out_of_bounds_is_refused_naming_durationMs(duration):
    with pytest.raises(ProtocolError) as info:
        decode_app_message(display(layout=TEXT, durationMs=duration))
    assert (info.value.code, info.value.field) == (ErrorCode.INVALID_FIELD, "durationMs")
    assert "durationMs" in info.value.message


def test_huge_exponent_duration_is_malformed():
    with pytest.raises(ProtocolError):
        decode_app_message(
            '{"type":"display_event","layout":{"layoutType":"clear_view"},"durationMs":1e400}'
        )


@pytest.mark.parametrize("duration", [0, 1, 5000, MAX_DURATION_MS, 0.5])
def test_durations_in_bounds_are_fine(duration):
    decoded = decode_app_message(display(layout=TEXT, durationMs=duration))
    assert decoded.obj["durationMs"] == duration


@pytest.mark.parametrize("data", ["not base64!", "%%%", "", "Qk0"])
def test_bitmap_view_data_must_be_base64(data):
    with pytest.raises(ProtocolError) as info:
        decode_app_message(display(layout={"layoutType": "bitmap_view", "data": data}))
    assert (info.value.code, info.value.field) == (ErrorCode.INVALID_FIELD, "layout.data")


def test_bitmap_view_with_base64_is_fine():
    decode_app_message(display(layout={"layoutType": "bitmap_view", "data": "Qk0="}))


LONG = "a" * 100_000


@pytest.mark.parametrize("name", [LONG, "a" * (MAX_PACKAGE_NAME + 1), "a..b", ".a", "a.", "a/b"])
def test_bad_package_names_are_refused_everywhere(name):
    with pytest.raises(ProtocolError) as info:
        check_package_name(name)
    assert info.value.field == "packageName"
    assert len(info.value.message) < 300  # never echoes a huge value
    with pytest.raises(StoreError) as stored:
        validation.package_name(name)
    assert stored.value.field == "package_name"
    init = {"type": "tpa_connection_init", "packageName": name, "apiKey": "k", "sessionId": "s"}
    with pytest.raises(ProtocolError) as info:
        decode_app_message(json.dumps(init))
    assert info.value.field == "packageName"
    with pytest.raises(ProtocolError) as info:
        decode_glasses_message(json.dumps({"type": "start_app", "packageName": name}))
    assert info.value.field == "packageName"


def test_longest_allowed_package_name_is_fine():
    name = "com." + "a" * (MAX_PACKAGE_NAME - 4)
    assert check_package_name(name) == name == validation.package_name(name)


# ---- token kinds ------------------------------------------------------------------------


def test_core_tokens_carry_their_kind_and_old_ones_still_work():
    import jwt

    assert jwt.decode(issue_core_token(SECRET, "a@b.c"), SECRET, ["HS256"])["typ"] == "core"
    legacy = jwt.encode({"sub": "a@b.c", "email": "a@b.c", "iat": 1}, SECRET, "HS256")
    assert verify_core_token(SECRET, legacy) == "a@b.c"


@pytest.mark.parametrize(
    "token",
    [
        issue_developer_token(SECRET, "dev@example.com"),
        issue_app_token(SECRET, "com.example.x", 1),
    ],
)
def test_developer_and_app_tokens_are_not_core_tokens(token):
    with pytest.raises(TokenError) as info:
        verify_core_token(SECRET, token)
    assert info.value.code is ErrorCode.INVALID_TOKEN
    assert "not a core token" in info.value.message


@pytest.mark.parametrize("interval", [1e308, -1, MAX_DURATION_MS + 1])
def test_animation_interval_is_bounded_too(interval):
    layout = {"layoutType": "bitmap_animation", "frames": ["Qk0="], "interval": interval}
    with pytest.raises(ProtocolError) as info:
        decode_app_message(display(layout=layout))
    assert info.value.field == "layout.interval"
