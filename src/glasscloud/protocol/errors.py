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
    TRANSCRIPTION_UNAVAILABLE = "TRANSCRIPTION_UNAVAILABLE"
    INVALID_JWT = "INVALID_JWT"
    JWT_SIGNATURE_FAILED = "JWT_SIGNATURE_FAILED"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    PACKAGE_MISMATCH = "PACKAGE_MISMATCH"
    MISSING_SESSION_ID = "MISSING_SESSION_ID"
    TOO_MANY_CONNECTIONS = "TOO_MANY_CONNECTIONS"
    RATE_LIMITED = "RATE_LIMITED"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    SESSION_REPLACED = "SESSION_REPLACED"
    ALREADY_AUTHENTICATED = "ALREADY_AUTHENTICATED"
    # App settings and AI tools (REST).
    INVALID_SETTING = "INVALID_SETTING"
    TOOL_NOT_FOUND = "TOOL_NOT_FOUND"
    TOOL_TIMEOUT = "TOOL_TIMEOUT"
    TOOL_FAILED = "TOOL_FAILED"
    APP_NOT_INSTALLED = "APP_NOT_INSTALLED"
    USER_MISMATCH = "USER_MISMATCH"


class ProtocolError(Exception):
    """A message that cannot be accepted. `field` is a JSON path such as `layout.text`."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r}, field={self.field!r})"


# What a developer should do about each code (sent as `hint`, listed in docs/errors.md).
HINTS: dict[ErrorCode, str] = {
    ErrorCode.INVALID_API_KEY: "Use the key printed by `glasscloud apps create` or the latest "
    "`apps rotate-key`.",
    ErrorCode.APP_NOT_STARTED: "The App connects only after glasscloud sent it a "
    "session_request; start it from the glasses or POST /apps/{package}/start.",
    ErrorCode.SESSION_NOT_FOUND: "The user's glasses are not connected (or the session ended); "
    "wait for the next session_request.",
    ErrorCode.MALFORMED_MESSAGE: "Send one JSON object per text frame, with a string `type`.",
    ErrorCode.PERMISSION_DENIED: "Declare the permission when registering the App.",
    ErrorCode.INTERNAL_ERROR: "A server-side fault; retry, and report it if it persists.",
    ErrorCode.PACKAGE_NOT_FOUND: "Register the App first: `glasscloud apps create PACKAGE ...` "
    "or POST /api/dev/apps.",
    ErrorCode.ALREADY_AUTHENTICATED: "Send tpa_connection_init once, as the first frame; "
    "the socket stays authenticated until it closes.",
    ErrorCode.INVALID_TOKEN: "Get a new core token (glasscloud token EMAIL).",
    ErrorCode.MISSING_TOKEN: "Send `Authorization: Bearer <token>`.",
    ErrorCode.INVALID_FIELD: "Fix the field named in `field`; see reference/app-protocol.md.",
    ErrorCode.UNKNOWN_MESSAGE_TYPE: "Check the `type` string against the protocol.",
    ErrorCode.NOT_SUPPORTED: "This glasscloud version does not implement that message yet.",
    ErrorCode.INVALID_SUBSCRIPTION: "Use a known stream name such as button_press, "
    "transcription:en-US or touch_event:double_tap.",
    ErrorCode.APP_NOT_RUNNING: "Wait for tpa_connection_ack before sending.",
    ErrorCode.BINARY_NOT_ALLOWED: "Send JSON as text frames.",
    ErrorCode.SYSTEM_APP_NETWORK: "Run the system App inside --system-networks, or register it "
    "without --system.",
    ErrorCode.AUTH_TIMEOUT: "Send tpa_connection_init right after connecting.",
    ErrorCode.TRANSCRIPTION_UNAVAILABLE: "Captions for that language are interrupted or not "
    "available on this server; they resume by themselves (see docs/captions.md).",
    ErrorCode.INVALID_JWT: "Use a token from `glasscloud apps token PACKAGE` or "
    "GET /api/dev/apps/{package}/token.",
    ErrorCode.JWT_SIGNATURE_FAILED: "The token was signed by another server; get one from "
    "this server.",
    ErrorCode.TOKEN_REVOKED: "The App's key was rotated after this token was issued; get a "
    "new token.",
    ErrorCode.PACKAGE_MISMATCH: "An App can act only as itself: use its own packageName and "
    "session id.",
    ErrorCode.MISSING_SESSION_ID: "Send X-Session-Id: <sessionId from session_request> (or "
    "?sessionId=).",
    ErrorCode.TOO_MANY_CONNECTIONS: "Close unused connections; each user has a connection limit.",
    ErrorCode.RATE_LIMITED: "Send fewer messages per second; excess messages were dropped.",
    ErrorCode.MESSAGE_TOO_LARGE: "Keep each frame under the server's size limit.",
    ErrorCode.SESSION_REPLACED: "Another connection signed in as this user; reconnect to take "
    "over again.",
    ErrorCode.INVALID_SETTING: "Send a value the App's settings schema allows for the setting "
    "named in `field` (GET /appsettings/{package} lists them).",
    ErrorCode.TOOL_NOT_FOUND: "Call one of the tools the App declared (GET "
    "/api/tools/apps/{package}/tools); register new ones with `glasscloud apps update`.",
    ErrorCode.TOOL_TIMEOUT: "The App server did not answer the tool call in time; make its "
    "/tool handler answer sooner, or retry.",
    ErrorCode.TOOL_FAILED: "The App server could not be reached, failed, or sent an answer "
    "that is not JSON or is too large; see `message`.",
    ErrorCode.APP_NOT_INSTALLED: "Run the App once (or change one of its settings) for that "
    "user before calling its tools.",
    ErrorCode.USER_MISMATCH: "A core token acts only for its own user: send that user's id, or "
    "use a developer token.",
}

# HTTP status of a refusal before the WebSocket upgrade.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.MISSING_TOKEN: 401,
    ErrorCode.INVALID_TOKEN: 401,
    ErrorCode.INVALID_JWT: 401,
    ErrorCode.JWT_SIGNATURE_FAILED: 401,
    ErrorCode.TOKEN_REVOKED: 403,
    ErrorCode.PACKAGE_MISMATCH: 403,
    ErrorCode.SYSTEM_APP_NETWORK: 403,
    ErrorCode.INVALID_API_KEY: 403,
    ErrorCode.PACKAGE_NOT_FOUND: 404,
    ErrorCode.SESSION_NOT_FOUND: 410,
    ErrorCode.APP_NOT_STARTED: 410,
    ErrorCode.MISSING_SESSION_ID: 400,
    ErrorCode.MALFORMED_MESSAGE: 400,
    ErrorCode.TOO_MANY_CONNECTIONS: 429,
    ErrorCode.INTERNAL_ERROR: 500,
}


def hint(code: str) -> str | None:
    try:
        return HINTS.get(ErrorCode(code))
    except ValueError:
        return None
