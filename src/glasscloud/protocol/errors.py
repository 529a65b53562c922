"""Error codes sent on the wire, and the exception that carries one."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable error codes. The first group are the reference cloud's own strings."""

    INVALID_API_KEY = "INVALID_API_KEY"
    APP_NOT_STARTED = "APP_NOT_STARTED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    PACKAGE_NOT_FOUND = "PACKAGE_NOT_FOUND"
    INVALID_TOKEN = "INVALID_TOKEN"
    # glasscloud additions: each names what was wrong so a developer can fix it.
    MISSING_TOKEN = "MISSING_TOKEN"
    INVALID_FIELD = "INVALID_FIELD"
    UNKNOWN_MESSAGE_TYPE = "UNKNOWN_MESSAGE_TYPE"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    INVALID_SUBSCRIPTION = "INVALID_SUBSCRIPTION"
    APP_NOT_RUNNING = "APP_NOT_RUNNING"
    BINARY_NOT_ALLOWED = "BINARY_NOT_ALLOWED"
    SYSTEM_APP_NETWORK = "SYSTEM_APP_NETWORK"
    AUTH_TIMEOUT = "AUTH_TIMEOUT"


class ProtocolError(Exception):
    """A message that cannot be accepted. `field` is a JSON path such as `layout.text`."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r}, field={self.field!r})"
