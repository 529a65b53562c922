"""Frames that tell Apps about the user's glasses (`@mentra/sdk` 2.1.29 `CapabilitiesUpdate`,
`DeviceStateUpdate`); core/device_state.py decides when."""

from __future__ import annotations

from typing import Any

from glasscloud.protocol.jsonio import encode


def capabilities_update(
    capabilities: dict[str, Any] | None, model_name: str | None, session_id: str, timestamp: str
) -> str:
    return encode(
        {
            "type": "capabilities_update",
            "capabilities": capabilities,
            "modelName": model_name,
            "sessionId": session_id,
            "timestamp": timestamp,
        }
    )


def device_state_update(
    state: dict[str, Any], full_snapshot: bool, session_id: str, timestamp: str
) -> str:
    return encode(
        {
            "type": "device_state_update",
            "state": state,
            "fullSnapshot": full_snapshot,
            "sessionId": session_id,
            "timestamp": timestamp,
        }
    )
