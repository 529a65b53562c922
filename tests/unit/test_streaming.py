"""Camera streaming rules of the core (core/streaming.py), on a ManualClock."""

from __future__ import annotations

import pytest

from glasscloud.core.timings import Timings
from tests.unit.test_location import Rig

URL = "rtmp://127.0.0.1/live/key"
T = Timings()


def statuses(conn) -> list[str]:
    return [m["status"] for m in conn.messages("rtmp_stream_status")]


def test_a_stream_is_relayed_kept_alive_and_its_status_reaches_only_its_app():
    rig = Rig()
    owner = rig.app("com.owner", "CAMERA")
    spy = rig.app("com.spy", "ALL")
    rig.subscribe(spy, "*", "rtmp_stream_status")
    rig.app_says(owner, type="rtmp_stream_request", rtmpUrl=URL, video={"width": 1280})
    [start] = rig.glasses.messages("start_rtmp_stream")
    assert start["rtmpUrl"] == URL and start["appId"] == "com.owner"
    assert start["video"] == {"width": 1280} and start["audio"] == {}
    stream_id = start["streamId"]
    assert statuses(owner) == ["initializing"]
    rig.phone(
        type="rtmp_stream_status",
        streamId=stream_id,
        status="streaming",
        stats={"bitrate": 1000, "fps": 30},
    )
    assert statuses(owner) == ["initializing", "streaming"]
    assert owner.messages("rtmp_stream_status")[-1]["stats"]["fps"] == 30
    assert spy.messages("rtmp_stream_status") == [] and spy.messages("data_stream") == []
    for _ in range(5):  # answered keep-alives keep it running
        rig.clock.advance(T.rtmp_keepalive_interval)
        ping = rig.glasses.messages("keep_rtmp_stream_alive")[-1]
        assert ping["streamId"] == stream_id
        rig.phone(type="keep_alive_ack", streamId=stream_id, ackId=ping["ackId"])
    assert statuses(owner)[-1] == "streaming"
    rig.app_says(owner, type="rtmp_stream_stop", streamId=stream_id)
    [stop] = rig.glasses.messages("stop_rtmp_stream")
    assert stop["streamId"] == stream_id
    assert statuses(owner)[-1] == "stopped"
    rig.clock.advance(10 * T.rtmp_keepalive_interval)
    assert len(rig.glasses.messages("keep_rtmp_stream_alive")) == 5


def test_unanswered_keep_alives_time_the_stream_out():
    rig = Rig()
    owner = rig.app("com.owner", "CAMERA")
    rig.app_says(owner, type="rtmp_stream_request", rtmpUrl=URL)
    rig.clock.advance(T.rtmp_keepalive_interval * (T.rtmp_max_missed_acks + 1) + 0.1)
    assert statuses(owner)[-1] == "timeout"
    assert len(rig.glasses.messages("stop_rtmp_stream")) == 1


def test_one_stream_per_glasses_and_a_second_is_refused_naming_the_holder():
    rig = Rig()
    first = rig.app("com.first", "CAMERA")
    second = rig.app("com.second", "CAMERA")
    rig.app_says(first, type="rtmp_stream_request", rtmpUrl=URL)
    rig.app_says(second, type="rtmp_stream_request", rtmpUrl="rtmp://127.0.0.1/other")
    [error] = second.messages("tpa_connection_error")
    assert error["code"] == "STREAM_BUSY" and "com.first" in error["message"]
    assert "rtmp_stream_request" in error["message"]
    assert statuses(second) == ["error"]  # so the SDK stops believing it streams
    rig.app_says(second, type="rtmp_stream_stop")
    assert second.messages("tpa_connection_error")[-1]["code"] == "STREAM_BUSY"
    assert len(rig.glasses.messages("start_rtmp_stream")) == 1
    assert rig.glasses.messages("stop_rtmp_stream") == []
    # the holder ends it (status from the glasses): the next App may stream
    stream_id = rig.glasses.messages("start_rtmp_stream")[0]["streamId"]
    rig.phone(
        type="rtmp_stream_status", streamId=stream_id, status="error", errorDetails="server refused"
    )
    assert statuses(first)[-1] == "error"
    assert first.messages("rtmp_stream_status")[-1]["errorDetails"] == "server refused"
    rig.app_says(second, type="rtmp_stream_request", rtmpUrl=URL)
    assert statuses(second)[-1] == "initializing"


def test_the_stream_stops_with_its_app_and_with_the_glasses():
    rig = Rig()
    owner = rig.app("com.owner", "CAMERA")
    rig.app_says(owner, type="rtmp_stream_request", rtmpUrl=URL)
    rig.session.stop_app("com.owner")
    assert len(rig.glasses.messages("stop_rtmp_stream")) == 1
    again = rig.app("com.again", "CAMERA")
    rig.app_says(again, type="rtmp_stream_request", rtmpUrl=URL)
    rig.session.glasses_closed(rig.glasses)
    assert statuses(again)[-1] == "stopped"
    assert "disconnected" in again.messages("rtmp_stream_status")[-1]["errorDetails"]
    rig.app_says(again, type="rtmp_stream_request", rtmpUrl=URL)
    assert again.messages("tpa_connection_error")[-1]["code"] == "GLASSES_NOT_CONNECTED"


def test_streaming_needs_the_camera_permission():
    rig = Rig()
    app = rig.app("com.nocam")
    rig.app_says(app, type="rtmp_stream_request", rtmpUrl=URL)
    [error] = app.messages("tpa_connection_error")
    assert error["code"] == "PERMISSION_DENIED" and "CAMERA" in error["message"]
    assert rig.glasses.messages("start_rtmp_stream") == []


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ({}, "rtmpUrl"),
        ({"rtmpUrl": "http://example.com/live"}, "rtmpUrl"),
        ({"rtmpUrl": URL, "video": "hd"}, "video"),
    ],
)
def test_a_bad_request_is_refused_naming_the_field(msg, field):
    rig = Rig()
    app = rig.app("com.owner", "CAMERA")
    rig.app_says(app, type="rtmp_stream_request", **msg)
    [error] = app.messages("tpa_connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", field)
    assert statuses(app) == ["error"]


def test_managed_streaming_is_answered_with_what_is_missing():
    rig = Rig()
    app = rig.app("com.owner", "CAMERA")
    rig.app_says(app, type="managed_stream_request", quality="720p")
    [status] = app.messages("managed_stream_status")
    assert status["status"] == "error" and "media server" in status["message"]
    assert app.messages("tpa_connection_error")[0]["code"] == "MANAGED_STREAMING_UNAVAILABLE"


def test_a_status_check_describes_the_running_stream():
    rig = Rig()
    owner = rig.app("com.owner", "CAMERA")
    other = rig.app("com.other", "CAMERA")
    rig.app_says(owner, type="stream_status_check")
    assert owner.messages("stream_status_check_response")[0]["hasActiveStream"] is False
    rig.app_says(owner, type="rtmp_stream_request", rtmpUrl=URL)
    rig.app_says(owner, type="stream_status_check")
    rig.app_says(other, type="stream_status_check")
    mine = owner.messages("stream_status_check_response")[-1]["streamInfo"]
    theirs = other.messages("stream_status_check_response")[-1]["streamInfo"]
    assert mine["rtmpUrl"] == URL and "rtmpUrl" not in theirs  # the URL may hold a key
    assert theirs["requestingAppId"] == "com.owner"
