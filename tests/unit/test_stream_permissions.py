"""The stream permission table: every stream and glasses event type has a stated
permission, and answers to a request are never delivered through subscriptions."""

from __future__ import annotations

import pytest

from glasscloud.core.records import PERMISSION_TYPES
from glasscloud.protocol import glasses, streams
from glasscloud.protocol.streams import (
    REQUEST_RESPONSES,
    STREAM_PERMISSIONS,
    has_permission,
    is_response,
    parse_subscription,
    required_permission,
)

# Every type a phone/glasses client sends (reference/glasses-protocol.md §3 and §11).
REFERENCE_GLASSES_TYPES = {
    "connection_init",
    "start_app",
    "stop_app",
    "button_press",
    "head_position",
    "glasses_battery_update",
    "phone_battery_update",
    "glasses_connection_state",
    "location_update",
    "vps_coordinates",
    "VAD",
    "phone_notification",
    "notification_dismissed",
    "calendar_event",
    "core_status_update",
    "settings_update_request",
    "request_settings",
    "photo_response",
    "rtmp_stream_status",
    "keep_alive_ack",
    "open_dashboard",
    "dashboard_state",
    "photo_taken",
    "touch_event",
    "local_transcription",
}


def test_every_subscribable_stream_has_a_stated_permission():
    assert streams.BASE_STREAMS - set(STREAM_PERMISSIONS) == set()


def test_every_glasses_event_type_is_in_the_table_or_a_control_type():
    known = REFERENCE_GLASSES_TYPES | set(glasses._RULES)
    relayable = known - glasses.CONTROL_TYPES
    assert relayable - set(STREAM_PERMISSIONS) == set()


def test_every_stated_permission_is_one_an_app_can_be_granted():
    stated = {p for p in STREAM_PERMISSIONS.values() if p is not None}
    assert stated <= set(PERMISSION_TYPES)


@pytest.mark.parametrize(
    ("key", "permission"),
    [
        ("audio_chunk", "MICROPHONE"),
        ("transcription:en-US", "MICROPHONE"),
        ("translation:es-ES-to-en-US", "MICROPHONE"),
        ("location_update", "LOCATION"),
        ("vps_coordinates", "LOCATION"),
        ("photo_response", "CAMERA"),
        ("photo_taken", "CAMERA"),
        ("calendar_event", "CALENDAR"),
        ("phone_notification", "READ_NOTIFICATIONS"),
        ("touch_event:double_tap", None),
        ("button_press", None),
        ("augmentos:brightness", None),
        ("*", None),
        ("all", None),
        ("video_stream_response", "ALL"),  # unknown types: only with ALL
        ("config", "ALL"),
    ],
)
def test_required_permission(key, permission):
    assert required_permission(key) == permission


def test_a_wildcard_subscriber_without_permissions_gets_no_response_or_camera_data():
    granted: frozenset[str] = frozenset()
    for stream_type in ("photo_response", "vps_coordinates", "photo_taken", "config"):
        assert not has_permission(granted, required_permission(stream_type))
    assert has_permission(frozenset({"ALL"}), required_permission("config"))


def test_responses_are_never_delivered_through_subscriptions():
    assert {"photo_response", "vps_coordinates"} == REQUEST_RESPONSES
    assert is_response("photo_response") and is_response("vps_coordinates")
    assert not any(is_response(t) for t in ("button_press", "photo_taken", "*", "transcription"))


def test_subscribing_to_a_response_type_needs_its_permission():
    sub = parse_subscription("photo_response")
    assert sub.required_permission == "CAMERA"
