"""A tiny field checker for incoming messages: each rule names the field it rejects."""

from __future__ import annotations

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
