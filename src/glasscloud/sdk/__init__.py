"""glasscloud's Python App SDK: the client side of the App protocol, for glasscloud and any
cloud speaking the MentraOS App protocol (wire-compatible with `@mentra/sdk` 2.1.29).

    from glasscloud.sdk import AppServer

    app = AppServer("com.example.captions", api_key="...", port=7010)

    @app.on_session
    async def captions(session):
        session.events.on_transcription(lambda t: session.layouts.show_text_wall(t.text))

    app.run()

See docs/python-sdk.md.
"""

from glasscloud.sdk.app_server import AppServer, ToolCall
from glasscloud.sdk.errors import (
    CloudError,
    ConnectError,
    DeniedStream,
    InvalidStreamError,
    SdkError,
    SessionClosedError,
    StreamPermissionError,
)
from glasscloud.sdk.models import (
    AudioChunk,
    Battery,
    ButtonPress,
    HeadPosition,
    Location,
    PhoneNotification,
    SettingChange,
    TouchEvent,
    Transcription,
    Translation,
    VoiceActivity,
)
from glasscloud.sdk.reconnect import ReconnectPolicy
from glasscloud.sdk.registry import Registration
from glasscloud.sdk.session import AppSession
from glasscloud.sdk.storage import SimpleStorage, StorageError

__all__ = [
    "AppServer",
    "AppSession",
    "AudioChunk",
    "Battery",
    "ButtonPress",
    "CloudError",
    "ConnectError",
    "DeniedStream",
    "HeadPosition",
    "InvalidStreamError",
    "Location",
    "PhoneNotification",
    "ReconnectPolicy",
    "Registration",
    "SdkError",
    "SessionClosedError",
    "SettingChange",
    "SimpleStorage",
    "StorageError",
    "StreamPermissionError",
    "ToolCall",
    "TouchEvent",
    "Transcription",
    "Translation",
    "VoiceActivity",
]
