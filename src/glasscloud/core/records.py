"""Plain records the store returns. Immutable, free of SQLAlchemy, safe to hand to the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

APP_TYPES = ("standard", "background")

PERMISSION_TYPES = (
    "MICROPHONE",
    "LOCATION",
    "CALENDAR",
    "CAMERA",
    "NOTIFICATIONS",
    "READ_NOTIFICATIONS",
    "POST_NOTIFICATIONS",
    "ALL",
)


@dataclass(frozen=True, slots=True)
class AppRecord:
    """A registered App. `api_key_hash` is the SHA-256 hex of the key; never serialise it."""

    package_name: str
    name: str
    public_url: str
    app_type: str = "background"
    is_system: bool = False
    permissions: tuple[str, ...] = ()
    settings_schema: tuple[dict[str, Any], ...] = ()
    api_key_hash: str = ""
    key_version: int = 1
    # AI tools the App answers at `{publicUrl}/tool` (the SDK's ToolSchema objects).
    tools: tuple[dict[str, Any], ...] = ()
    # The App's web page the phone opens for it ("" when it has none).
    webview_url: str = ""

    def public_view(self) -> dict[str, Any]:
        """What REST and the CLI may show: everything but the key hash."""
        return {
            "packageName": self.package_name,
            "name": self.name,
            "publicUrl": self.public_url,
            "appType": self.app_type,
            "isSystemApp": self.is_system,
            "permissions": [{"type": p} for p in self.permissions],
            "settings": list(self.settings_schema),
            "tools": list(self.tools),
            "webviewURL": self.webview_url or None,
        }


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user (id = lower-cased email) and what must survive a restart."""

    user_id: str
    running_apps: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    # What each App last showed (main view, dashboard items), for a restart.
    resume_state: dict[str, Any] = field(default_factory=dict)
    # Cluster mode's fencing epoch of the node that last took the user over (0: never taken).
    owner_epoch: int = 0
