"""AI tools an App declares (the SDK's ToolSchema) and which calls of them are accepted.
Pure: the shell reads the App record and the user's Apps, asks here, then calls the App.

Rules:
1. A tool is called only for an App of the calling user (one the user runs, ran or
   configured), and a core token acts only for its own user (a developer token for any).
2. The tool id is one the App declared (`TOOL_NOT_FOUND` otherwise).
3. `toolParameters` is an object of strings, numbers and booleans; a declared parameter's
   type and `enum` are checked and a `required` one must be present (`INVALID_FIELD`
   naming `toolParameters.<name>`); undeclared parameters pass through, as the SDK allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from glasscloud.core.records import AppRecord
from glasscloud.protocol.errors import ErrorCode, ProtocolError

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "boolean": (bool,),
}


def may_call(
    caller_user: str | None, target_user: str, users_apps: Iterable[str], package: str
) -> None:
    """Rule 1. `caller_user` None: a developer token."""
    if caller_user is not None and caller_user != target_user:
        raise ProtocolError(
            ErrorCode.USER_MISMATCH,
            f"This core token belongs to {caller_user}; it cannot call tools for {target_user}.",
            "userId",
        )
    if package not in set(users_apps):
        raise ProtocolError(
            ErrorCode.APP_NOT_INSTALLED,
            f"{target_user} has never run or configured {package}.",
            "userId",
        )


def check_call(record: AppRecord, tool_id: str, parameters: dict[str, Any]) -> None:
    """Rules 2 and 3."""
    tool = next((t for t in record.tools if t.get("id") == tool_id), None)
    if tool is None:
        declared = ", ".join(str(t.get("id")) for t in record.tools) or "none"
        raise ProtocolError(
            ErrorCode.TOOL_NOT_FOUND,
            f"{record.package_name} declares no tool '{tool_id}' (its tools: {declared}).",
            "toolId",
        )
    for name, value in parameters.items():
        if not isinstance(value, (str, int, float, bool)):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"Tool parameter '{name}' must be a string, number or boolean.",
                f"toolParameters.{name}",
            )
    declared_params = tool.get("parameters") or {}
    for name, spec in declared_params.items():
        field = f"toolParameters.{name}"
        if name not in parameters:
            if spec.get("required"):
                raise ProtocolError(
                    ErrorCode.INVALID_FIELD,
                    f"Tool '{tool_id}' needs the parameter '{name}'.",
                    field,
                )
            continue
        value = parameters[name]
        kind = spec.get("type")
        allowed = _PYTHON_TYPES.get(kind, ())
        if not isinstance(value, allowed) or (kind == "number" and isinstance(value, bool)):
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"Tool parameter '{name}' must be a {kind}, not {value!r}.",
                field,
            )
        enum = spec.get("enum")
        if enum and value not in enum:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"Tool parameter '{name}' must be one of {', '.join(map(str, enum))}.",
                field,
            )


def user_tools(records: Iterable[AppRecord]) -> list[dict[str, Any]]:
    """Every tool of the given Apps, each with `appPackageName` (as the reference lists)."""
    return [{**tool, "appPackageName": r.package_name} for r in records for tool in r.tools]
