"""Location on the wire: the accuracy tiers, the App's `location_poll_request`, the phone's
`location_update` and the two commands the cloud sends the phone (`set_location_tier`,
`request_single_location`), with the field names of the MentraOS phone and `@mentra/sdk`
2.1.29."""

from __future__ import annotations

import math
from typing import Any

from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import encode
from glasscloud.protocol.validate import NUM, STR, check_fields

# Tiers the phone knows, least demanding first (the reference cloud's order).
TIERS = (
    "reduced",
    "threeKilometers",
    "kilometer",
    "hundredMeters",
    "tenMeters",
    "standard",
    "high",
    "realtime",
)
RANK = {tier: rank for rank, tier in enumerate(TIERS)}
# What the phone is asked for when nobody needs a location stream (the phone's low-power tier,
# as the reference cloud sends it).
IDLE_TIER = "reduced"
# The tier of a subscription that names none: SDK 2.1.29 drops the accuracy an App passes to
# `location.subscribeToStream`, so every such App gets this.
DEFAULT_TIER = "standard"
# How old (seconds) a fix may be and still answer a poll of each accuracy (the reference's
# table): a fresher one answers at once, else the phone is asked.
MAX_AGE = {
    "realtime": 1.0,
    "high": 10.0,
    "standard": 30.0,
    "tenMeters": 30.0,
    "hundredMeters": 60.0,
    "kilometer": 300.0,
    "threeKilometers": 900.0,
    "reduced": 900.0,
}
MAX_CORRELATION_ID = 128


def check_tier(value: Any, field: str) -> str:
    if value not in RANK:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`{field}` must be one of {', '.join(TIERS)}; got {str(value)[:40]!r}.",
            field,
        )
    return value


def most_demanding(tiers: list[str]) -> str:
    return max(tiers, key=RANK.__getitem__)


def validate_poll(obj: dict[str, Any]) -> tuple[str, str]:
    """`location_poll_request` -> (correlationId, accuracy); a missing accuracy is the
    default tier."""
    check_fields("location_poll_request", obj, {"correlationId": ((STR,), True)})
    correlation_id = obj["correlationId"]
    if not 0 < len(correlation_id) <= MAX_CORRELATION_ID:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"`correlationId` must be 1 to {MAX_CORRELATION_ID} characters.",
            "correlationId",
        )
    accuracy = obj.get("accuracy")
    if accuracy is None:
        return correlation_id, DEFAULT_TIER
    return correlation_id, check_tier(accuracy, "accuracy")


def validate_update(obj: dict[str, Any]) -> None:
    """The phone's `location_update`: finite coordinates in range (`lat`/`lng` are already
    numbers), optional numeric accuracy and string correlationId."""
    check_fields(
        "location_update", obj, {"accuracy": ((NUM,), False), "correlationId": ((STR,), False)}
    )
    for name, bound in (("lat", 90.0), ("lng", 180.0)):
        value = obj[name]
        if not math.isfinite(value) or abs(value) > bound:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                f"`{name}` in `location_update` must be between -{bound:g} and {bound:g}.",
                name,
            )


def fix_data(obj: dict[str, Any], timestamp: str, correlation_id: str | None = None) -> str:
    """The `data` of a `location_update` data_stream (the SDK's LocationUpdate)."""
    body: dict[str, Any] = {"type": "location_update", "lat": obj["lat"], "lng": obj["lng"]}
    if isinstance(obj.get("accuracy"), int | float):
        body["accuracy"] = obj["accuracy"]
    if correlation_id is not None:
        body["correlationId"] = correlation_id
    body["timestamp"] = timestamp
    return encode(body)


def set_location_tier(tier: str, timestamp: str) -> str:
    return encode({"type": "set_location_tier", "tier": tier, "timestamp": timestamp})


def request_single_location(accuracy: str, correlation_id: str, timestamp: str) -> str:
    return encode(
        {
            "type": "request_single_location",
            "accuracy": accuracy,
            "correlationId": correlation_id,
            "timestamp": timestamp,
        }
    )
