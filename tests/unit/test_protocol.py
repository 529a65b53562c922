"""Protocol parsing: every message type of the references, and coded errors for bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glasscloud.protocol import app as app_wire
from glasscloud.protocol import glasses as glasses_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from glasscloud.protocol.jsonio import iso_timestamp
from glasscloud.protocol.streams import has_permission, parse_subscription, required_permission

# One valid example of every glasses -> cloud type in glasses-protocol.md §3.
GLASSES_MESSAGES = [
    {"type": "connection_init", "coreToken": "jwt"},
    {"type": "start_app", "packageName": "com.x"},
    {"type": "stop_app", "packageName": "com.x"},
    {"type": "button_press", "buttonId": "ring", "pressType": "single"},
    {"type": "head_position", "position": "up"},
    {"type": "glasses_battery_update", "level": 80, "charging": False, "timeRemaining": 30},
    {"type": "phone_battery_update", "level": 50, "charging": True},
    {"type": "glasses_connection_state", "modelName": None, "status": "CONNECTED"},
    {"type": "location_update", "lat": 1.5, "lng": -2.25},
    {
        "type": "vps_coordinates",
        "deviceModel": "x",
        "requestId": "r",
        "x": 1,
        "y": 2,
        "z": 3,
        "qx": 0,
        "qy": 0,
        "qz": 0,
        "qw": 1,
        "confidence": 0.5,
    },
    {"type": "VAD", "status": True},
    {"type": "VAD", "status": "false"},
    {
        "type": "phone_notification",
        "notificationId": "n1",
        "app": "Messages",
        "title": "Bob",
        "content": "hi",
        "priority": "high",
    },
    {"type": "notification_dismissed", "notificationId": "n1"},
    {
        "type": "calendar_event",
        "eventId": "e",
        "title": "t",
        "dtStart": "a",
        "dtEnd": "b",
        "timeZone": "UTC",
    },
    {"type": "core_status_update", "status": {"status": {"core_info": {}}}},
    {"type": "settings_update_request"},
    {"type": "request_settings", "sessionId": "x"},
    {"type": "photo_response", "requestId": "r", "photoUrl": "http://x"},
    {"type": "rtmp_stream_status", "status": "streaming"},
    {"type": "keep_alive_ack", "streamId": "s", "ackId": "a"},
    {"type": "open_dashboard"},
    {"type": "touch_event", "device_model": "Mentra Live", "gesture_name": "double_tap"},
    {
        "type": "local_transcription",
        "text": "hello",
        "isFinal": True,
        "transcribeLanguage": "en-US",
        "startTime": 0,
        "endTime": 900,
    },
    {"type": "some_future_type", "x": 1},
]


@pytest.mark.parametrize("obj", GLASSES_MESSAGES, ids=lambda o: o["type"])
def test_every_glasses_message_type_decodes(obj):
    text = json.dumps(obj)
    msg = glasses_wire.decode_glasses_message(text)
    assert msg.type == obj["type"]
    assert msg.obj == obj
    assert msg.text == text


@pytest.mark.parametrize(
    ("obj", "code", "field"),
    [
        ({"type": "start_app"}, ErrorCode.INVALID_FIELD, "packageName"),
        ({"type": "start_app", "packageName": 7}, ErrorCode.INVALID_FIELD, "packageName"),
        ({"type": "head_position", "position": "left"}, ErrorCode.INVALID_FIELD, "position"),
        ({"type": "location_update", "lat": "1", "lng": 2}, ErrorCode.INVALID_FIELD, "lat"),
        ({"type": "VAD", "status": "maybe"}, ErrorCode.INVALID_FIELD, "status"),
        ({"type": "local_transcription", "text": "x"}, ErrorCode.INVALID_FIELD, "isFinal"),
        (
            {
                "type": "local_transcription",
                "text": "x",
                "isFinal": True,
                "transcribeLanguage": "english",
            },
            ErrorCode.INVALID_FIELD,
            "transcribeLanguage",
        ),
        ({"type": "glasses_battery_update", "level": True}, ErrorCode.INVALID_FIELD, "level"),
        ({"type": ""}, ErrorCode.INVALID_FIELD, "type"),
        ({"no": "type"}, ErrorCode.INVALID_FIELD, "type"),
    ],
)
def test_bad_glasses_fields_name_the_field(obj, code, field):
    with pytest.raises(ProtocolError) as info:
        glasses_wire.decode_glasses_message(json.dumps(obj))
    assert info.value.code == code
    assert info.value.field == field
    assert field in info.value.message


@pytest.mark.parametrize("text", ["{", "[]", "42", '"x"', "null", ""])
def test_non_objects_are_malformed(text):
    with pytest.raises(ProtocolError) as info:
        glasses_wire.decode_glasses_message(text)
    assert info.value.code == ErrorCode.MALFORMED_MESSAGE


# Every App -> cloud type in app-protocol.md §4, as the SDK sends it (sdk-wire-capture.txt).
APP_MESSAGES = [
    {
        "type": "tpa_connection_init",
        "sessionId": "a@x-com.p",
        "packageName": "com.p",
        "apiKey": "k",
        "timestamp": "2026-11-25T19:18:10.466Z",
    },
    {
        "type": "subscription_update",
        "packageName": "com.p",
        "subscriptions": [],
        "sessionId": "a@x-com.p",
    },
    {
        "timestamp": "t",
        "sessionId": "",
        "type": "display_event",
        "packageName": "com.p",
        "view": "main",
        "layout": {"layoutType": "text_wall", "text": "hi"},
        "durationMs": 5000,
    },
    {
        "type": "display_event",
        "view": "dashboard",
        "layout": {"layoutType": "dashboard_card", "leftText": "l", "rightText": "r"},
    },
    {
        "type": "display_event",
        "layout": {"layoutType": "double_text_wall", "topText": "a", "bottomText": "b"},
    },
    {
        "type": "display_event",
        "layout": {"layoutType": "reference_card", "title": "t", "text": "x"},
    },
    {"type": "display_event", "layout": {"layoutType": "bitmap_view", "data": "Qk0="}},
    {
        "type": "display_event",
        "layout": {
            "layoutType": "bitmap_animation",
            "frames": ["a"],
            "interval": 1650,
            "repeat": True,
        },
    },
    {"type": "display_event", "layout": {"layoutType": "clear_view"}},
    {
        "type": "ownership_release",
        "packageName": "com.p",
        "sessionId": "s",
        "reason": "switching_clouds",
    },
    {"type": "dashboard_content_update", "packageName": "com.p", "content": "c", "modes": ["main"]},
    {"type": "audio_play_request", "requestId": "audio_req_1", "audioUrl": "http://x"},
    {"type": "photo_request", "requestId": "photo_req_1", "saveToGallery": False},
    {"type": "rgb_led_control", "action": "on", "color": "red"},
    {"type": "location_poll_request", "correlationId": "poll_1", "accuracy": "high"},
]


@pytest.mark.parametrize("obj", APP_MESSAGES, ids=lambda o: o["type"])
def test_every_app_message_type_decodes(obj):
    msg = app_wire.decode_app_message(json.dumps(obj))
    assert msg.type == obj["type"]
    assert msg.obj == obj


@pytest.mark.parametrize(
    ("obj", "code", "field"),
    [
        (
            {"type": "tpa_connection_init", "packageName": "p", "sessionId": "s"},
            ErrorCode.INVALID_FIELD,
            "apiKey",
        ),
        (
            {"type": "subscription_update", "subscriptions": "button_press"},
            ErrorCode.INVALID_FIELD,
            "subscriptions",
        ),
        (
            {"type": "display_event", "layout": {"layoutType": "marquee"}},
            ErrorCode.INVALID_FIELD,
            "layout.layoutType",
        ),
        (
            {"type": "display_event", "layout": {"layoutType": "reference_card", "title": "t"}},
            ErrorCode.INVALID_FIELD,
            "layout.text",
        ),
        (
            {"type": "display_event", "layout": {"layoutType": "clear_view"}, "durationMs": -1},
            ErrorCode.INVALID_FIELD,
            "durationMs",
        ),
        (
            {"type": "display_event", "layout": {"layoutType": "clear_view"}, "view": "always_on"},
            ErrorCode.INVALID_FIELD,
            "view",
        ),
        (
            {"type": "display_event", "layout": {"layoutType": "bitmap_animation", "frames": [1]}},
            ErrorCode.INVALID_FIELD,
            "layout.frames",
        ),
        ({"type": "hello_cloud"}, ErrorCode.UNKNOWN_MESSAGE_TYPE, "type"),
    ],
)
def test_bad_app_messages_give_coded_errors(obj, code, field):
    with pytest.raises(ProtocolError) as info:
        app_wire.decode_app_message(json.dumps(obj))
    assert (info.value.code, info.value.field) == (code, field)


@pytest.mark.parametrize(
    ("raw", "key", "permission"),
    [
        ("button_press", "button_press", None),
        ("transcription", "transcription:en-US", "MICROPHONE"),
        ("transcription:en-US", "transcription:en-US", "MICROPHONE"),
        ("transcription:auto", "transcription:auto", "MICROPHONE"),
        (
            "transcription:fr-FR?no-language-identification=true&hints=en%2Cde",
            "transcription:fr-FR",
            "MICROPHONE",
        ),
        ("translation:es-ES-to-en-US", "translation:es-ES-to-en-US", "MICROPHONE"),
        (
            "translation:all-to-en-US?no-language-identification=true",
            "translation:all-to-en-US",
            "MICROPHONE",
        ),
        ("touch_event:double_tap", "touch_event:double_tap", None),
        ("audio_chunk", "audio_chunk", "MICROPHONE"),
        ("VAD", "VAD", "MICROPHONE"),
        ("location_update", "location_update", "LOCATION"),
        ("calendar_event", "calendar_event", "CALENDAR"),
        ("phone_notification", "phone_notification", "READ_NOTIFICATIONS"),
        ("augmentos:metricSystemEnabled", "augmentos:metricSystemEnabled", None),
        ("*", "*", None),
        ("all", "all", None),
    ],
)
def test_stream_grammar(raw, key, permission):
    sub = parse_subscription(raw)
    assert (sub.raw, sub.key, sub.required_permission) == (raw, key, permission)


def test_subscription_object_form():
    sub = parse_subscription({"stream": "location_stream", "rate": "high"})
    assert sub.key == "location_stream" and sub.required_permission == "LOCATION"


@pytest.mark.parametrize(
    "raw",
    [
        "foo",
        "",
        "transcription:en",
        "transcription:EN-us",
        "translation:en-US",
        "touch_event:wiggle",
        5,
        None,
        {"rate": "x"},
    ],
)
def test_invalid_streams(raw):
    with pytest.raises(ProtocolError) as info:
        parse_subscription(raw, "subscriptions[3]")
    assert info.value.code == ErrorCode.INVALID_SUBSCRIPTION
    assert info.value.field.startswith("subscriptions[3]")


def test_permission_rules():
    assert has_permission(frozenset({"ALL"}), "MICROPHONE")
    assert not has_permission(frozenset(), "MICROPHONE")
    assert has_permission(frozenset(), None)
    assert has_permission(frozenset({"NOTIFICATIONS"}), "READ_NOTIFICATIONS")
    assert not has_permission(frozenset({"NOTIFICATIONS"}), "POST_NOTIFICATIONS")
    assert required_permission("*") is None


def test_session_id_is_split_by_suffix_not_first_hyphen():
    assert app_wire.user_id_from_session_id("jean-luc@x.fr-com.a-b", "com.a-b") == "jean-luc@x.fr"
    assert app_wire.user_id_from_session_id("jean-luc@x.fr-com.other", "com.a") is None
    assert app_wire.user_id_from_session_id("-com.a", "com.a") is None


def test_data_stream_frame_is_valid_json_with_raw_data():
    prefix = app_wire.data_stream_prefix('a"b@x-com.p', "transcription:en-US")
    frame = app_wire.data_stream_frame(prefix, '{"type":"x","n":1}', "2026-01-01T00:00:00.000Z")
    assert json.loads(frame) == {
        "type": "data_stream",
        "sessionId": 'a"b@x-com.p',
        "streamType": "transcription:en-US",
        "data": {"type": "x", "n": 1},
        "timestamp": "2026-01-01T00:00:00.000Z",
    }


def test_session_request_carries_both_url_fields():
    body = app_wire.session_request("u-p", "u", "ws://h/app-ws", "t")
    assert body["mentraOSWebsocketUrl"] == body["augmentOSWebsocketUrl"] == "ws://h/app-ws"


def test_iso_timestamp_matches_javascript():
    assert iso_timestamp(1_764_097_090.422) == "2025-11-25T18:58:10.422Z"


@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))))
def test_any_text_either_decodes_or_raises_a_protocol_error(text):
    for decode in (glasses_wire.decode_glasses_message, app_wire.decode_app_message):
        try:
            decode(text)
        except ProtocolError as error:
            assert error.code in ErrorCode
            assert error.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=10,
)


@given(st.sampled_from(GLASSES_MESSAGES + APP_MESSAGES), st.text(), json_values)
def test_mutated_messages_never_raise_anything_else(base, key, value):
    obj = dict(base)
    obj[key if key in obj or not obj else next(iter(obj))] = value
    text = json.dumps(obj)
    for decode in (glasses_wire.decode_glasses_message, app_wire.decode_app_message):
        try:
            decode(text)
        except ProtocolError as error:
            assert error.code in ErrorCode
