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


# Bounds on what a developer registers: the schema and the tools travel in every
# tpa_connection_ack and every listing, so a runaway registration cannot grow them.
MAX_SETTINGS = 200
MAX_TOOLS = 64
MAX_DEFINITIONS_BYTES = 64 * 1024
MAX_TEXT = 200
SETTING_TYPES = (
    "toggle",
    "text",
    "select",
    "slider",
    "group",
    "text_no_save_button",
    "select_with_search",
    "multiselect",
    "titleValue",
    "numeric_input",
    "time_picker",
)
_TOOL_PARAMETER_TYPES = ("string", "number", "boolean")


def _bounded_list(values: Any, field: str, limit: int) -> list[Any]:
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Sequence):
        raise StoreError(f"{field} must be a list of JSON objects", field)
    if len(values) > limit:
        raise StoreError(f"{field} has {len(values)} entries; at most {limit} are allowed", field)
    return list(values)


def _bounded_json(value: Any, field: str) -> None:
    size = len(to_json(value, field))
    if size > MAX_DEFINITIONS_BYTES:
        raise StoreError(
            f"{field} is {size} bytes; at most {MAX_DEFINITIONS_BYTES} are allowed", field
        )


def _short_text(value: Any, field: str, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str) or (required and not value.strip()):
        raise StoreError(f"{field} must be a non-empty string", field)
    if len(value) > MAX_TEXT:
        raise StoreError(f"{field} is longer than {MAX_TEXT} characters", field)


def settings_schema(values: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """A list of setting definitions (the SDK's AppSetting objects): a known `type`, a
    unique `key` on every setting but groups and titleValue rows, options as {label, value},
    numeric min <= max (sliders need both); bounded in count and size."""
    result = []
    keys: set[str] = set()
    for index, item in enumerate(_bounded_list(values, "settings", MAX_SETTINGS)):
        where = f"settings[{index}]"
        if not isinstance(item, Mapping):
            raise StoreError(f"{where} must be a JSON object", where)
        kind = item.get("type")
        if kind not in SETTING_TYPES:
            raise StoreError(
                f"{where}.type must be one of {', '.join(SETTING_TYPES)}", f"{where}.type"
            )
        if kind not in ("group", "titleValue"):
            key = item.get("key")
            _short_text(key, f"{where}.key")
            if key in keys:
                raise StoreError(f"{where}.key '{key}' is used by another setting", f"{where}.key")
            keys.add(key)
        options = item.get("options")
        if options is not None:
            if not isinstance(options, list):
                raise StoreError(
                    f"{where}.options must be a list of {{label, value}}", f"{where}.options"
                )
            for o_index, option in enumerate(options):
                if not isinstance(option, Mapping) or "value" not in option:
                    raise StoreError(
                        f"{where}.options[{o_index}] must be {{label, value}}", f"{where}.options"
                    )
        for bound in ("min", "max"):
            if bound in item and not _is_number(item[bound]):
                raise StoreError(f"{where}.{bound} must be a number", f"{where}.{bound}")
        if kind == "slider" and not (_is_number(item.get("min")) and _is_number(item.get("max"))):
            raise StoreError(f"{where} (a slider) needs numeric min and max", where)
        if (
            _is_number(item.get("min"))
            and _is_number(item.get("max"))
            and item["min"] > item["max"]
        ):
            raise StoreError(f"{where}.min must not be greater than its max", f"{where}.min")
        result.append(dict(item))
    _bounded_json(result, "settings")
    return tuple(result)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def tools(values: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], ...]:
    """A list of tool definitions (the SDK's ToolSchema: `id`, `description`,
    `activationPhrases`?, `parameters`? of {type, description, enum?, required?});
    ids unique; bounded in count and size."""
    result = []
    ids: set[str] = set()
    for index, item in enumerate(_bounded_list(values, "tools", MAX_TOOLS)):
        where = f"tools[{index}]"
        if not isinstance(item, Mapping):
            raise StoreError(f"{where} must be a JSON object", where)
        _short_text(item.get("id"), f"{where}.id")
        if item["id"] in ids:
            raise StoreError(f"{where}.id '{item['id']}' is used by another tool", f"{where}.id")
        ids.add(item["id"])
        if not isinstance(item.get("description", ""), str):
            raise StoreError(f"{where}.description must be a string", f"{where}.description")
        phrases = item.get("activationPhrases", [])
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise StoreError(
                f"{where}.activationPhrases must be a list of strings", f"{where}.activationPhrases"
            )
        parameters = item.get("parameters", {})
        if not isinstance(parameters, Mapping):
            raise StoreError(
                f"{where}.parameters must be an object of parameter definitions",
                f"{where}.parameters",
            )
        for name, spec in parameters.items():
            there = f"{where}.parameters.{name}"
            if not isinstance(spec, Mapping) or spec.get("type") not in _TOOL_PARAMETER_TYPES:
                raise StoreError(
                    f"{there}.type must be one of {', '.join(_TOOL_PARAMETER_TYPES)}",
                    f"{there}.type",
                )
            enum = spec.get("enum")
            if enum is not None and (
                not isinstance(enum, list) or not all(isinstance(e, str) for e in enum)
            ):
                raise StoreError(f"{there}.enum must be a list of strings", f"{there}.enum")
        result.append(dict(item))
    _bounded_json(result, "tools")
    return tuple(result)


def webview_url(value: str | None) -> str:
    """ "" (no web page) or an http(s) URL with a host."""
    if value is None or value == "":
        return ""
    text = value.strip() if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(text) > 2048:
        raise StoreError(
            f"webviewURL '{value}' is invalid: it must be an http:// or https:// URL", "webviewURL"
        )
    return text


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
