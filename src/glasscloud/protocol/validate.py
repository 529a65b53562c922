"""A tiny field checker for incoming messages: each rule names the field it rejects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError

STR = "string"
NUM = "number"
BOOL = "boolean"
OBJ = "object"
LIST = "array"
INT = "integer"

_CHECKS = {
    STR: lambda v: isinstance(v, str),
    NUM: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
    BOOL: lambda v: isinstance(v, bool),
    OBJ: lambda v: isinstance(v, dict),
    LIST: lambda v: isinstance(v, list),
}

# A rule: field -> (accepted kinds, required)
Rules = Mapping[str, tuple[tuple[str, ...], bool]]


def check_fields(msg_type: str, obj: Mapping[str, Any], rules: Rules, prefix: str = "") -> None:
    """Raise a ProtocolError naming the first field that is missing or of the wrong kind."""
    for name, (kinds, required) in rules.items():
        path = f"{prefix}{name}"
        if name not in obj or obj[name] is None:
            if required:
                raise ProtocolError(
                    ErrorCode.INVALID_FIELD,
                    f"`{msg_type}` needs `{path}` ({' or '.join(kinds)}).",
                    path,
                )
            continue
        value = obj[name]
        if not any(_CHECKS[k](value) for k in kinds):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"`{path}` in `{msg_type}` must be a {' or '.join(kinds)}, got {type_name(value)}.",
                path,
            )


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# Package names: reverse-domain style (com.example.captions), dot-separated segments of
# letters, digits, '_' and '-', each starting with a letter or digit. Android allows 255;
# 128 is far above any real one and keeps names echoed in errors and logs short.
MAX_PACKAGE_NAME = 128
PACKAGE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*")


def package_name_problem(value: Any) -> str | None:
    """Why `value` is not a package name (a phrase that follows the field's name), or None.
    Never echoes an overlong value."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if len(value) > MAX_PACKAGE_NAME:
        return f"is {len(value)} characters long; the limit is {MAX_PACKAGE_NAME}"
    if not PACKAGE_NAME_RE.fullmatch(value):
        return (
            f"'{value}' is invalid: use dot-separated segments of letters, digits, '_' and "
            "'-', each starting with a letter or digit (e.g. com.example.captions)"
        )
    return None


def check_package_name(value: Any, field: str = "packageName") -> str:
    """`value` if it is a package name, else ProtocolError(INVALID_FIELD) naming `field`."""
    problem = package_name_problem(value)
    if problem is not None:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"`{field}` {problem}.", field)
    return value
