"""Defaults the reference cloud uses when it knows nothing better: the user's system settings
and the glasses' capabilities before the phone reports its own."""

from __future__ import annotations

from typing import Any

DEFAULT_SYSTEM_SETTINGS: dict[str, Any] = {
    "useOnboardMic": False,
    "contextualDashboard": True,
    "headUpAngle": 20,
    "brightness": 50,
    "autoBrightness": False,
    "sensingEnabled": True,
    "alwaysOnStatusBar": False,
    "bypassVad": False,
    "bypassAudioEncoding": False,
    "metricSystemEnabled": False,
}

# The reference assumes an Even Realities G1 until told otherwise.
DEFAULT_CAPABILITIES: dict[str, Any] = {
    "modelName": "Even Realities G1",
    "hasCamera": False,
    "camera": None,
    "hasDisplay": True,
    "display": {
        "count": 2,
        "isColor": False,
        "color": "green",
        "canDisplayBitmap": True,
        "resolution": {"width": 640, "height": 200},
        "fieldOfView": {"horizontal": 25},
        "maxTextLines": 5,
        "adjustBrightness": True,
    },
    "hasMicrophone": True,
    "microphone": {"count": 1, "hasVAD": False},
    "hasSpeaker": False,
    "speaker": None,
    "hasIMU": True,
    "imu": {"axisCount": 6, "hasAccelerometer": True, "hasCompass": False, "hasGyroscope": True},
    "hasButton": False,
    "button": None,
    "hasLight": False,
    "light": None,
    "power": {"hasExternalBattery": False},
    "hasWifi": False,
}


def app_settings_for_ack(
    schema: tuple[dict[str, Any], ...], stored: dict[str, Any]
) -> list[dict[str, Any]]:
    """The App's settings schema with each `value` = the user's stored value, else the
    default (fixes the reference's "settings reset on every restart")."""
    result = []
    for item in schema:
        entry = dict(item)
        key = entry.get("key")
        if key and entry.get("type") != "group":
            entry["value"] = stored.get(key, entry.get("value", entry.get("defaultValue")))
        result.append(entry)
    known = {item.get("key") for item in schema}
    for key, value in stored.items():
        if key not in known:
            result.append({"key": key, "value": value})
    return result
