"""Checks on values entering the store. Each failure is a StoreError naming the field."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from glasscloud.core.records import APP_TYPES, PERMISSION_TYPES
from glasscloud.protocol.validate import package_name_problem
from glasscloud.store.errors import StoreError

MAX_APP_NAME = 200


def package_name(value: str, field: str = "package_name") -> str:
    """A package name such as com.example.app (the rule of protocol.validate, shared with
    the wire checks): at most 128 characters, dot-separated segments of letters, digits,
    '_' and '-'."""
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{field} must not be empty", field)
    value = value.strip()
    problem = package_name_problem(value)
    if problem is not None:
        raise StoreError(f"{field} {problem}", field)
    return value


def app_name(value: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StoreError("name must not be empty", "name")
    if len(value.strip()) > MAX_APP_NAME:
        raise StoreError(f"name is longer than {MAX_APP_NAME} characters", "name")
    return value.strip()


def public_url(value: str) -> str:
    """An http(s) URL with a host; a trailing '/' is dropped so paths can be appended."""
    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise StoreError(
            f"public_url '{value}' is invalid: it must start with http:// or https://",
            "public_url",
        )
    return text.rstrip("/")


def app_type(value: str) -> str:
    if value not in APP_TYPES:
        raise StoreError(
            f"app_type '{value}' is invalid: use one of {', '.join(APP_TYPES)}", "app_type"
        )
    return value


def permissions(values: Sequence[str]) -> tuple[str, ...]:
    """Upper-cased, each a known permission type, duplicates dropped (first order kept)."""
    if isinstance(values, str):
        raise StoreError("permissions must be a list of names, not a single string", "permissions")
    result: list[str] = []
    for raw in values:
        name = str(raw).strip().upper()
        if name not in PERMISSION_TYPES:
            raise StoreError(
                f"permission '{raw}' is invalid: use one of {', '.join(PERMISSION_TYPES)}",
                "permissions",
            )
        if name not in result:
            result.append(name)
    return tuple(result)


def settings_schema(values: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """A list of setting definitions (JSON objects)."""
    result = []
    for item in values:
        if not isinstance(item, Mapping):
            raise StoreError("settings_schema must be a list of JSON objects", "settings_schema")
        result.append(dict(item))
    to_json(result, "settings_schema")
    return tuple(result)


def user_id(value: str) -> str:
    """A user id is the lower-cased e-mail."""
    if not isinstance(value, str) or not value.strip():
        raise StoreError("user_id must not be empty")
    return value.strip().lower()


def json_object(value: Mapping[str, Any], field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise StoreError(f"{field} must be a JSON object (a dict)", field)
    return dict(value)


def to_json(value: Any, field: str) -> str:
    """json.dumps, with a StoreError naming the field instead of a TypeError."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{field} cannot be stored as JSON: {exc}", field) from None
