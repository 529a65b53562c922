"""What the glasses report about themselves, and what Apps are told of it.

Rules:
1. Capabilities follow the glasses model. The phone names the model in
   `glasses_connection_state.modelName` and in `core_status_update`'s
   `status.status.connected_glasses.model_name`; a known model that differs from the current
   one replaces the session's capabilities (which `tpa_connection_ack` carries) and every live
   App gets one `capabilities_update`. An unknown model name changes `modelName` in the device
   state but not the capabilities: glasscloud does not guess hardware it has no table for (the
   reference never updates capabilities at all).
2. Device state (`connected, modelName, batteryLevel, charging, wifiConnected, wifiSsid,
   case*`) is kept per session; a report that changes fields sends live Apps one
   `device_state_update` with only the changed fields (`fullSnapshot: false`); an App that
   binds gets the whole state (`fullSnapshot: true`) right after its ack, if anything is known.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.defaults import DEFAULT_CAPABILITIES
from glasscloud.core.ports import Connection
from glasscloud.protocol import device as device_wire

if TYPE_CHECKING:
    from glasscloud.core.context import SessionContext

DEVICE_MESSAGES = frozenset(
    {"glasses_connection_state", "glasses_battery_update", "core_status_update"}
)


def _variant(model: str, **changes: Any) -> dict[str, Any]:
    caps = copy.deepcopy(DEFAULT_CAPABILITIES)
    caps.update(changes)
    caps["modelName"] = model
    return caps


MODEL_CAPABILITIES: dict[str, dict[str, Any]] = {
    "Even Realities G1": copy.deepcopy(DEFAULT_CAPABILITIES),
    "Simulated Glasses": _variant("Simulated Glasses"),
    "Mentra Live": _variant(
        "Mentra Live",
        hasCamera=True,
        camera={
            "resolution": {"width": 1920, "height": 1080},
            "hasHDR": False,
            "hasFocus": True,
            "video": {"canRecord": True, "canStream": True},
        },
        hasDisplay=False,
        display=None,
        hasSpeaker=True,
        speaker={"count": 1, "isPrivate": False},
        hasButton=True,
        button={"count": 1, "buttons": [{"type": "press", "events": ["press", "long_press"]}]},
        hasLight=True,
        light={"count": 1},
        hasWifi=True,
    ),
    "Vuzix Z100": _variant(
        "Vuzix Z100",
        display={
            "count": 1,
            "isColor": False,
            "color": "green",
            "canDisplayBitmap": False,
            "resolution": {"width": 640, "height": 480},
            "fieldOfView": {"horizontal": 30},
            "maxTextLines": 7,
            "adjustBrightness": True,
        },
        hasMicrophone=False,
        microphone=None,
        hasIMU=False,
        imu=None,
    ),
}


class DeviceState:
    def __init__(self) -> None:
        self.state: dict[str, Any] = {}
        self.model: str | None = None

    def report(
        self, kind: str, obj: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """One glasses message: (new capabilities or None, the changed state fields)."""
        fields = _fields(kind, obj)
        changed = {k: v for k, v in fields.items() if self.state.get(k, _MISSING) != v}
        self.state.update(changed)
        capabilities = None
        model = fields.get("modelName")
        if isinstance(model, str) and model != self.model and model in MODEL_CAPABILITIES:
            self.model = model
            capabilities = copy.deepcopy(MODEL_CAPABILITIES[model])
        return capabilities, changed


_MISSING = object()


class DeviceReports:
    """The session's part of the rules above: it keeps the `DeviceState` and tells the live
    Apps (`slots`, which the lifecycle owns) what changed."""

    def __init__(self, ctx: SessionContext, slots: Mapping[str, AppSlot]) -> None:
        self.ctx = ctx
        self.slots = slots
        self.device = DeviceState()

    def report(self, kind: str, obj: dict[str, Any]) -> None:
        capabilities, changed = self.device.report(kind, obj)
        if capabilities is None and not changed:
            return
        if capabilities is not None:
            self.ctx.capabilities = capabilities
        now = self.ctx.timestamp()
        for slot in list(self.slots.values()):
            if not slot.live:
                continue
            if capabilities is not None:
                slot.conn.send_text(  # type: ignore[union-attr]
                    device_wire.capabilities_update(
                        capabilities, capabilities.get("modelName"), slot.app_session_id, now
                    )
                )
            if changed:
                slot.conn.send_text(  # type: ignore[union-attr]
                    device_wire.device_state_update(changed, False, slot.app_session_id, now)
                )

    def app_bound(self, package_name: str, conn: Connection) -> None:
        """Right after an App's ack: what is known of the glasses, whole."""
        slot = self.slots.get(package_name)
        if self.device.state and slot is not None and slot.conn is conn:
            conn.send_text(
                device_wire.device_state_update(
                    dict(self.device.state), True, slot.app_session_id, self.ctx.timestamp()
                )
            )


def _fields(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "glasses_connection_state":
        status = obj.get("status")
        if isinstance(status, str):
            out["connected"] = status.upper() == "CONNECTED"
        if isinstance(obj.get("modelName"), str) and obj["modelName"]:
            out["modelName"] = obj["modelName"]
        wifi = obj.get("wifi")
        if isinstance(wifi, dict):
            if isinstance(wifi.get("connected"), bool):
                out["wifiConnected"] = wifi["connected"]
            if isinstance(wifi.get("ssid"), str):
                out["wifiSsid"] = wifi["ssid"]
    elif kind == "glasses_battery_update":
        if _number(obj.get("level")):
            out["batteryLevel"] = obj["level"]
        if isinstance(obj.get("charging"), bool):
            out["charging"] = obj["charging"]
    elif kind == "core_status_update":
        outer = obj.get("status")
        inner = outer.get("status") if isinstance(outer, dict) else None
        glasses = inner.get("connected_glasses") if isinstance(inner, dict) else None
        if isinstance(glasses, dict):
            model = glasses.get("model_name")
            if isinstance(model, str):
                out["connected"] = bool(model)
                if model:
                    out["modelName"] = model
            for source, target in (
                ("battery_level", "batteryLevel"),
                ("case_battery_level", "caseBatteryLevel"),
            ):
                if _number(glasses.get(source)) and glasses[source] >= 0:
                    out[target] = glasses[source]
            for source, target in (
                ("case_charging", "caseCharging"),
                ("case_open", "caseOpen"),
                ("case_removed", "caseRemoved"),
                ("glasses_wifi_connected", "wifiConnected"),
            ):
                if isinstance(glasses.get(source), bool):
                    out[target] = glasses[source]
            if isinstance(glasses.get("glasses_wifi_ssid"), str):
                out["wifiSsid"] = glasses["glasses_wifi_ssid"]
    return out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
