"""Error codes sent on the wire, and the exception that carries one.

One vocabulary: every refusal the server sends (WebSocket error frame or HTTP body) carries
an `ErrorCode`, with its hint and, where it can come over HTTP, its status here (close codes
are `protocol.close_codes.CloseCode`). docs/errors.md lists them (a test keeps it true).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


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
    API_KEY_ROTATED = "API_KEY_ROTATED"
    # REST and developer API
    NO_SESSION = "NO_SESSION"
    NOT_RUNNING = "NOT_RUNNING"
    APP_EXISTS = "APP_EXISTS"
    NOT_A_DEVELOPER_TOKEN = "NOT_A_DEVELOPER_TOKEN"
    INVALID_TOKEN_CLAIMS = "INVALID_TOKEN_CLAIMS"
    REGISTRATION_NOT_FOUND = "REGISTRATION_NOT_FOUND"
    ALREADY_AUTHENTICATED = "ALREADY_AUTHENTICATED"
    # Platform services (Simple Storage, webview sign-in, App-to-App messages).
    STORAGE_VALUE_TOO_LARGE = "STORAGE_VALUE_TOO_LARGE"
    STORAGE_QUOTA_EXCEEDED = "STORAGE_QUOTA_EXCEEDED"
    WEBVIEW_TOKEN_INVALID = "WEBVIEW_TOKEN_INVALID"
    USER_NOT_REACHABLE = "USER_NOT_REACHABLE"
    # App settings and AI tools (REST).
    INVALID_SETTING = "INVALID_SETTING"
    TOOL_NOT_FOUND = "TOOL_NOT_FOUND"
    TOOL_TIMEOUT = "TOOL_TIMEOUT"
    TOOL_FAILED = "TOOL_FAILED"
    APP_NOT_INSTALLED = "APP_NOT_INSTALLED"
    USER_MISMATCH = "USER_MISMATCH"
    # the glasses' hardware (photos, sound, LED) and speech synthesis
    GLASSES_NOT_CONNECTED = "GLASSES_NOT_CONNECTED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    TTS_UNAVAILABLE = "TTS_UNAVAILABLE"
    HARDWARE_MISSING = "HARDWARE_MISSING"
    # location, camera streaming, translation
    LOCATION_UNAVAILABLE = "LOCATION_UNAVAILABLE"
    STREAM_BUSY = "STREAM_BUSY"
    MANAGED_STREAMING_UNAVAILABLE = "MANAGED_STREAMING_UNAVAILABLE"
    TRANSLATION_UNAVAILABLE = "TRANSLATION_UNAVAILABLE"
    # Operator tokens (expiry, revocation).
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    DEVELOPER_TOKEN_REVOKED = "DEVELOPER_TOKEN_REVOKED"
    # Cluster mode (--redis).
    SESSION_ON_OTHER_NODE = "SESSION_ON_OTHER_NODE"
    SESSION_MOVING = "SESSION_MOVING"
    CLUSTER_UNAVAILABLE = "CLUSTER_UNAVAILABLE"


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
    ErrorCode.INVALID_FIELD: "Fix the field named in `field`; the message says what it must be.",
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
    ErrorCode.API_KEY_ROTATED: "The App's API key was rotated; restart the App with the new "
    "key (printed by `glasscloud apps rotate-key` or the developer API).",
    ErrorCode.NO_SESSION: "Connect the user's glasses first; Apps start inside a live session.",
    ErrorCode.NOT_RUNNING: "The App is not running for this user; nothing to stop.",
    ErrorCode.APP_EXISTS: "Choose another package name, or rotate the existing App's key.",
    ErrorCode.NOT_A_DEVELOPER_TOKEN: "Get a developer token on the server: glasscloud "
    "dev-token EMAIL.",
    ErrorCode.INVALID_TOKEN_CLAIMS: "Get a new token from this server (glasscloud token EMAIL "
    "or dev-token EMAIL); this one lacks a required claim.",
    ErrorCode.REGISTRATION_NOT_FOUND: "Register the App server again: POST "
    "/api/app-server/register.",
    ErrorCode.STORAGE_VALUE_TOO_LARGE: "Keep each Simple Storage value under 100,000 "
    "characters; put large data in your own storage.",
    ErrorCode.STORAGE_QUOTA_EXCEEDED: "Delete unused keys: an App keeps at most 1 MiB per user.",
    ErrorCode.WEBVIEW_TOKEN_INVALID: "Temporary tokens work once, for about a minute, for the "
    "App they were issued for; reopen the webview from the phone.",
    ErrorCode.USER_NOT_REACHABLE: "Only users whose session runs this App right now can be "
    "messaged; see app_user_discovery.",
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
    ErrorCode.GLASSES_NOT_CONNECTED: "The user's glasses are not connected (or went away "
    "before answering); ask again once they are back.",
    ErrorCode.REQUEST_TIMEOUT: "The glasses did not answer in time; try again, or check "
    "that they have the hardware (camera, speaker) the request needs.",
    ErrorCode.TTS_UNAVAILABLE: "No speech synthesiser works on this server: install "
    "espeak-ng or set GLASSCLOUD_TTS_PROVIDER to another synthesiser.",
    ErrorCode.HARDWARE_MISSING: "The user's glasses lack that hardware (see "
    "session.capabilities); check hasCamera before asking for a photo.",
    ErrorCode.LOCATION_UNAVAILABLE: "The phone sent no position fix in time (or is not "
    "connected); ask again later, or subscribe to the location stream.",
    ErrorCode.STREAM_BUSY: "The glasses stream to one place at a time: wait for the App named "
    "in the message to stop its stream.",
    ErrorCode.MANAGED_STREAMING_UNAVAILABLE: "Use camera.startStream({ rtmpUrl }) with your own "
    "RTMP server; managed streaming needs a media server this glasscloud does not have.",
    ErrorCode.TRANSLATION_UNAVAILABLE: "Configure a translation provider "
    "(GLASSCLOUD_TRANSLATION_PROVIDER; see README, Translation).",
    ErrorCode.TOKEN_EXPIRED: "Get a new token on the server: glasscloud token EMAIL (or "
    "glasscloud dev-token EMAIL for a developer token).",
    ErrorCode.DEVELOPER_TOKEN_REVOKED: "This developer token was revoked (glasscloud dev-token "
    "revoke); ask the operator for a new one: glasscloud dev-token EMAIL.",
    ErrorCode.SESSION_ON_OTHER_NODE: "Nothing to do: the node that serves this user sends the "
    "App a new session_request with its own URL.",
    ErrorCode.SESSION_MOVING: "The user's session is moving to this node (the old node's "
    "lease has not expired yet); try again in a few seconds.",
    ErrorCode.CLUSTER_UNAVAILABLE: "This node cannot reach Redis, so it cannot tell which node "
    "serves the user; try again in a few seconds (and check Redis).",
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
    ErrorCode.INVALID_FIELD: 400,
    ErrorCode.TOO_MANY_CONNECTIONS: 429,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.API_KEY_ROTATED: 403,
    ErrorCode.NO_SESSION: 409,
    ErrorCode.NOT_RUNNING: 409,
    ErrorCode.APP_EXISTS: 409,
    ErrorCode.NOT_A_DEVELOPER_TOKEN: 401,
    ErrorCode.INVALID_TOKEN_CLAIMS: 401,
    ErrorCode.REGISTRATION_NOT_FOUND: 404,
    ErrorCode.STORAGE_VALUE_TOO_LARGE: 413,
    ErrorCode.STORAGE_QUOTA_EXCEEDED: 413,
    ErrorCode.WEBVIEW_TOKEN_INVALID: 401,
    ErrorCode.INVALID_SETTING: 400,
    ErrorCode.TOOL_NOT_FOUND: 404,
    ErrorCode.TOOL_TIMEOUT: 504,
    ErrorCode.TOOL_FAILED: 502,
    ErrorCode.APP_NOT_INSTALLED: 403,
    ErrorCode.USER_MISMATCH: 403,
    ErrorCode.TTS_UNAVAILABLE: 503,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.DEVELOPER_TOKEN_REVOKED: 401,
    ErrorCode.SESSION_ON_OTHER_NODE: 409,
    ErrorCode.SESSION_MOVING: 503,
    ErrorCode.CLUSTER_UNAVAILABLE: 503,
}


def hint(code: str) -> str | None:
    try:
        return HINTS.get(ErrorCode(code))
    except ValueError:
        return None


def http_status(code: ErrorCode) -> int:
    """The HTTP status of a refusal with this code (400 for codes without their own)."""
    return HTTP_STATUS.get(code, 400)


def package_not_found(package_name: str, field: str | None = None) -> ProtocolError:
    """The one way to say that no App is registered under a name."""
    return ProtocolError(
        ErrorCode.PACKAGE_NOT_FOUND, f"No App is registered as '{package_name}'.", field
    )


def error_body(error: ProtocolError, *, with_hint: bool = True) -> dict[str, Any]:
    """`{code, message, field?, hint?}`: the error object of every HTTP refusal."""
    body: dict[str, Any] = {"code": error.code.value, "message": error.message}
    if error.field:
        body["field"] = error.field
    if with_hint and (advice := HINTS.get(error.code)):
        body["hint"] = advice
    return body
