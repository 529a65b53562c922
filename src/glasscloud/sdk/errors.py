"""Typed errors of the App SDK. Errors the cloud reports carry its `code`, `message` and, when
the cloud names one, the offending `field`, so App code can branch on the code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from glasscloud.protocol.errors import ErrorCode


class SdkError(Exception):
    """Base class of every error the SDK raises."""


class CloudError(SdkError):
    """A `tpa_connection_error` (or `connection_error`) frame from the cloud.

    During connection set-up it is raised from the connect; afterwards it is delivered to the
    session's error handlers (`session.events.on_error`), because the cloud keeps the socket
    open after rejecting a single message.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.field = field

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> CloudError:
        field = frame.get("field")
        return cls(
            str(frame.get("code") or ""),
            str(frame.get("message") or "unknown error"),
            field if isinstance(field, str) else None,
        )


@dataclass(frozen=True, slots=True)
class DeniedStream:
    """One entry of a `permission_error`: a stream refused for want of a permission."""

    stream: str
    required_permission: str
    message: str


class StreamPermissionError(SdkError):
    """A `permission_error` frame: some subscriptions were refused for missing permissions."""

    code = ErrorCode.PERMISSION_DENIED

    def __init__(self, message: str, denied: tuple[DeniedStream, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.denied = denied

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> StreamPermissionError:
        details = frame.get("details")
        denied = tuple(
            DeniedStream(
                str(item.get("stream", "")),
                str(item.get("requiredPermission", "")),
                str(item.get("message", "")),
            )
            for item in (details if isinstance(details, list) else [])
            if isinstance(item, dict)
        )
        return cls(str(frame.get("message") or "Subscriptions refused"), denied)


class ConnectError(SdkError):
    """The App WebSocket could not be opened or was not acknowledged in time."""


class SessionClosedError(SdkError):
    """The session has ended (stopped, released, or the connection was lost for good)."""


class InvalidStreamError(SdkError, ValueError):
    """A subscription the cloud would refuse (bad language code, unknown gesture...)."""
