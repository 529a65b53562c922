"""The hardware rules of the core (core/hardware.py, camera.py, audio_out.py) on a
ManualClock: what reaches the glasses, who hears the answer, and how every request that
cannot be answered ends (timeouts, lost glasses, a stopped App, missing permission)."""

from __future__ import annotations

import json

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.hardware import HardwareServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.glasses import decode_glasses_message
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

USER = "u@example.com"


class Rig:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.effects = RecordingEffects()
        self.posts: list[tuple[str, dict[str, str]]] = []
        self.hardware = HardwareServices(
            post_photo_error=lambda url, fields: self.posts.append((url, fields)),
            audio_url=lambda url, user, pkg: url.replace("https://tts.invalid", "http://me"),
            photo_timeout=25.0,
            audio_timeout=55.0,
        )
        services = SessionServices(self.clock, self.effects, Timings(), hardware=self.hardware)
        self.session = UserSession(USER, services)
        self.glasses = RecordingConnection("glasses")
        self.session.attach_glasses(self.glasses)

    def app(self, package: str, permissions: tuple[str, ...] = ()) -> RecordingConnection:
        record = app_record(package, permissions=permissions)
        self.session.start_app(record)
        self.effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
        conn = RecordingConnection(package)
        assert self.session.bind_app(record, conn, {}) is None
        return conn

    def send(self, conn: RecordingConnection, **msg) -> None:
        self.session.handle_app_text(conn, json.dumps(msg))

    def from_glasses(self, **msg) -> None:
        self.session.handle_glasses_message(decode_glasses_message(json.dumps(msg)))


def photo(rig: Rig, conn: RecordingConnection, request_id: str = "p1", **extra) -> None:
    rig.send(conn, type="photo_request", requestId=request_id, packageName=conn.name, **extra)


def test_a_photo_request_reaches_the_glasses_with_the_apps_upload_route():
    rig = Rig()
    app = rig.app("com.cam", ("CAMERA",))
    photo(rig, app, size="large")
    [sent] = rig.glasses.messages("photo_request")
    assert sent["requestId"] == "p1" and sent["appId"] == "com.cam"
    assert sent["webhookUrl"] == "http://127.0.0.1:9/com.cam/photo-upload"
    assert (sent["size"], sent["compress"], sent["saveToGallery"]) == ("large", "none", False)
    # the upload of the photo itself is between the glasses and the App; nothing to post
    rig.from_glasses(type="photo_response", requestId="p1", success=True)
    rig.clock.advance(60)
    assert rig.posts == []


def test_without_camera_nothing_reaches_the_glasses_and_the_promise_is_rejected():
    rig = Rig()
    app = rig.app("com.nocam", ("MICROPHONE",))
    photo(rig, app)
    assert rig.glasses.messages("photo_request") == []
    [error] = app.messages("tpa_connection_error")
    assert error["code"] == "PERMISSION_DENIED" and "CAMERA" in error["message"]
    assert "'p1'" in error["message"] and app.closed is None  # the socket stays open
    [(url, fields)] = rig.posts
    assert url.endswith("/com.nocam/photo-upload")
    assert fields["type"] == "photo_error" and fields["errorCode"] == "PERMISSION_DENIED"


def test_each_way_a_photo_cannot_come_rejects_it_with_its_reason():
    rig = Rig()
    app = rig.app("com.cam", ("CAMERA",))
    photo(rig, app, "busy")
    rig.from_glasses(
        type="photo_response",
        requestId="busy",
        success=False,
        error={"code": "CAMERA_BUSY", "message": "recording"},
    )
    photo(rig, app, "flat")  # phones send flat errorCode/errorMessage
    rig.from_glasses(
        type="photo_response",
        requestId="flat",
        success=False,
        errorCode="NO_CAMERA",
        errorMessage="this model has no camera",
    )
    photo(rig, app, "slow")
    rig.clock.advance(24.9)
    assert [f["requestId"] for _, f in rig.posts] == ["busy", "flat"]
    rig.clock.advance(0.2)
    photo(rig, app, "gone")
    rig.session.glasses_closed(rig.glasses)
    codes = {f["requestId"]: (f["errorCode"], f["errorMessage"]) for _, f in rig.posts}
    assert codes["busy"] == ("CAMERA_BUSY", "recording")
    assert codes["flat"] == ("NO_CAMERA", "this model has no camera")
    assert codes["slow"][0] == "REQUEST_TIMEOUT" and "25 s" in codes["slow"][1]
    assert codes["gone"][0] == "GLASSES_NOT_CONNECTED"
    # without glasses a new request is refused at once
    photo(rig, app, "late")
    assert rig.posts[-1][1]["errorCode"] == "GLASSES_NOT_CONNECTED"
    assert app.messages("tpa_connection_error")[-1]["code"] == "GLASSES_NOT_CONNECTED"


def test_a_stopped_apps_photo_ends_without_a_post():
    rig = Rig()
    app = rig.app("com.cam", ("CAMERA",))
    photo(rig, app)
    rig.session.stop_app("com.cam")
    rig.clock.advance(60)
    assert rig.posts == []


def test_photo_answers_go_to_the_asker_never_to_a_wildcard_subscriber():
    rig = Rig()
    asker = rig.app("com.cam", ("CAMERA",))
    spy = rig.app("com.spy", ("ALL",))
    rig.send(spy, type="subscription_update", subscriptions=["*"])
    photo(rig, asker)
    rig.from_glasses(type="photo_taken", photoData="AAAA", mimeType="image/jpeg")
    rig.from_glasses(type="photo_response", requestId="p1", success=True)
    assert [m["streamType"] for m in asker.messages("data_stream")] == [
        "photo_taken",
        "photo_response",
    ]
    assert spy.messages("data_stream") == []
    rig.from_glasses(type="photo_taken", requestId="p1", photoData="BBBB", mimeType="image/jpeg")
    assert len(asker.messages("data_stream")) == 3 and spy.messages("data_stream") == []


def test_audio_is_answered_to_the_asker_and_settled_when_no_answer_comes():
    rig = Rig()
    speaker = rig.app("com.speak")
    other = rig.app("com.other")
    rig.send(
        speaker,
        type="audio_play_request",
        requestId="a1",
        audioUrl="https://tts.invalid/api/tts?text=hi",
        trackId=2,
    )
    [sent] = rig.glasses.messages("audio_play_request")
    assert sent["audioUrl"] == "http://me/api/tts?text=hi"  # rewritten by the shell's rule
    assert (sent["appId"], sent["trackId"], sent["stopOtherAudio"]) == ("com.speak", 2, True)
    rig.from_glasses(type="audio_play_response", requestId="a1", success=True, duration=1.5)
    [answer] = speaker.messages("audio_play_response")
    assert (answer["requestId"], answer["success"], answer["duration"]) == ("a1", True, 1.5)
    assert other.messages("audio_play_response") == []
    # another App cannot answer for it, and a second answer reaches nobody
    rig.from_glasses(type="audio_play_response", requestId="a1", success=True)
    assert len(speaker.messages("audio_play_response")) == 1
    # no answer: success false before the SDK's 60 s
    rig.send(speaker, type="audio_play_request", requestId="a2", audioUrl="http://x/a.mp3")
    rig.clock.advance(55.1)
    late = speaker.messages("audio_play_response")[-1]
    assert late["requestId"] == "a2" and late["success"] is False
    assert "did not answer within 55 s" in late["error"]
    # the glasses go away while it plays
    rig.send(speaker, type="audio_play_request", requestId="a3", audioUrl="http://x/a.mp3")
    rig.session.glasses_closed(rig.glasses)
    gone = speaker.messages("audio_play_response")[-1]
    assert gone["requestId"] == "a3" and "disconnected" in gone["error"]


def test_bad_audio_led_and_wifi_requests_name_their_field():
    rig = Rig()
    app = rig.app("com.speak")
    rig.send(app, type="audio_play_request", requestId="a1", audioUrl="file:///etc/passwd")
    rig.send(app, type="audio_play_request", requestId="a2", audioUrl="http://x", volume=7)
    rig.send(app, type="rgb_led_control", requestId="l1", action="on", color="purple")
    rig.send(app, type="rgb_led_control", requestId="l2", action="blink")
    rig.send(app, type="rgb_led_control", requestId="l3", action="on", ontime=-5)
    rig.send(app, type="request_wifi_setup", reason="x" * 500)
    rig.send(app, type="audio_stop_request", trackId="all")
    fields = [e["field"] for e in app.messages("tpa_connection_error")]
    assert fields == ["audioUrl", "volume", "color", "action", "ontime", "reason", "trackId"]
    # the SDK's playAudio() promises are settled too
    assert [m["requestId"] for m in app.messages("audio_play_response")] == ["a1", "a2"]
    assert [
        m["type"]
        for m in rig.glasses.messages()
        if m["type"]
        not in ("connection_ack", "app_state_change", "microphone_state_change", "display_event")
    ] == []


def test_led_stop_and_wifi_reach_the_glasses_and_the_led_answer_only_the_asker():
    rig = Rig()
    app = rig.app("com.led")
    other = rig.app("com.other")
    rig.send(app, type="rgb_led_control", requestId="l1", action="on", color="blue", count=3)
    rig.send(app, type="rgb_led_control", requestId="l2", action="off")
    rig.send(app, type="audio_stop_request", trackId=2)
    rig.send(app, type="request_wifi_setup", reason="photos")
    on, off = rig.glasses.messages("rgb_led_control")
    assert (on["color"], on["count"], on["ontime"], on["packageName"]) == (
        "blue",
        3,
        1000,
        "com.led",
    )
    assert off["action"] == "off" and "color" not in off
    [stop] = rig.glasses.messages("audio_stop_request")
    assert (stop["appId"], stop["trackId"]) == ("com.led", 2)
    [wifi] = rig.glasses.messages("show_wifi_setup")
    assert (wifi["appPackageName"], wifi["reason"]) == ("com.led", "photos")
    rig.from_glasses(type="rgb_led_control_response", requestId="l1", success=True)
    assert [m["requestId"] for m in app.messages("rgb_led_control_response")] == ["l1"]
    assert other.messages("rgb_led_control_response") == []


def test_requests_without_glasses_are_refused_not_dropped():
    rig = Rig()
    app = rig.app("com.speak")
    rig.session.glasses_closed(rig.glasses)
    rig.send(app, type="audio_play_request", requestId="a1", audioUrl="http://x/a.mp3")
    rig.send(app, type="rgb_led_control", requestId="l1", action="off")
    rig.send(app, type="request_wifi_setup")
    codes = [e["code"] for e in app.messages("tpa_connection_error")]
    assert codes == ["GLASSES_NOT_CONNECTED"] * 3
    [answer] = app.messages("audio_play_response")
    assert answer["success"] is False and "not connected" in answer["error"]


def test_the_other_glasses_events_reach_subscribers_with_their_permission():
    rig = Rig()
    reader = rig.app("com.reader", ("CALENDAR", "READ_NOTIFICATIONS"))
    nosy = rig.app("com.nosy")
    rig.send(
        reader,
        type="subscription_update",
        subscriptions=[
            "calendar_event",
            "phone_notification_dismissed",
            "glasses_connection_state",
            "open_dashboard",
        ],
    )
    rig.send(nosy, type="subscription_update", subscriptions=["*", "calendar_event"])
    # nosy's calendar_event subscription is refused (CALENDAR), its wildcard stays
    assert nosy.messages("permission_error")[0]["details"][0]["stream"] == "calendar_event"
    events = [
        {
            "type": "calendar_event",
            "eventId": "e1",
            "title": "Standup",
            "dtStart": "9",
            "dtEnd": "10",
            "timeZone": "UTC",
        },
        {"type": "phone_notification_dismissed", "notificationId": "n1"},
        {"type": "notification_dismissed", "notificationId": "n2"},
        {
            "type": "glasses_connection_state",
            "modelName": "Mentra Live",
            "status": "CONNECTED",
            "wifi": {"connected": True, "ssid": "home"},
        },
        {"type": "open_dashboard"},
        {"type": "dashboard_state", "isOpen": True},
    ]
    for event in events:
        rig.from_glasses(**event)
    got = [(m["streamType"], m["data"]["type"]) for m in reader.messages("data_stream")]
    assert got == [
        ("calendar_event", "calendar_event"),
        ("phone_notification_dismissed", "phone_notification_dismissed"),
        ("phone_notification_dismissed", "notification_dismissed"),
        ("glasses_connection_state", "glasses_connection_state"),
        ("open_dashboard", "open_dashboard"),
    ]
    # the wildcard without permissions: device state yes, calendar and notifications no
    assert [m["streamType"] for m in nosy.messages("data_stream")] == [
        "glasses_connection_state",
        "open_dashboard",
        "dashboard_state",
    ]


def test_many_led_commands_and_unwaited_sounds_never_use_up_the_apps_photo_requests():
    rig = Rig()
    app = rig.app("com.busy", ("CAMERA",))
    for n in range(30):
        rig.send(app, type="rgb_led_control", requestId=f"l{n}", action="off")
    for n in range(20):
        rig.send(
            app,
            type="audio_play_request",
            requestId=f"a{n}",
            audioUrl="http://x/a.mp3",
            stopOtherAudio=False,
        )
    assert len(rig.glasses.messages("rgb_led_control")) == 30
    assert len(rig.glasses.messages("audio_play_request")) == 20
    assert app.messages("tpa_connection_error") == []
    rig.clock.advance(5.1)  # the LED answers are no longer waited for
    photo(rig, app, "p1")
    assert [m["requestId"] for m in rig.glasses.messages("photo_request")] == ["p1"]


def test_calendar_events_are_replayed_to_an_app_that_subscribes_later():
    rig = Rig()
    early = rig.app("com.early", ("CALENDAR",))
    rig.send(early, type="subscription_update", subscriptions=["calendar_event"])
    for n in range(3):
        rig.from_glasses(type="calendar_event", eventId=f"e{n}", title=f"Meeting {n}")
    rig.from_glasses(type="calendar_event", eventId="e1", title="Meeting 1, moved")
    assert len(early.messages("data_stream")) == 4
    late = rig.app("com.late", ("CALENDAR",))
    rig.send(late, type="subscription_update", subscriptions=["button_press"])
    assert late.messages("data_stream") == []
    rig.send(late, type="subscription_update", subscriptions=["button_press", "calendar_event"])
    titles = [m["data"]["title"] for m in late.messages("data_stream")]
    assert titles == ["Meeting 0", "Meeting 2", "Meeting 1, moved"]
    # an unchanged subscription replays nothing; nor does one without CALENDAR
    rig.send(late, type="subscription_update", subscriptions=["calendar_event"])
    assert len(late.messages("data_stream")) == 3
    nosy = rig.app("com.nosy")
    rig.send(nosy, type="subscription_update", subscriptions=["calendar_event"])
    assert nosy.messages("data_stream") == []
    assert len(early.messages("data_stream")) == 4  # the early App got nothing twice


def test_a_photo_from_glasses_reported_without_a_camera_is_refused_at_once():
    rig = Rig()
    app = rig.app("com.cam", ("CAMERA",))
    photo(rig, app, "before")  # nothing reported yet: the glasses answer for themselves
    assert len(rig.glasses.messages("photo_request")) == 1
    rig.from_glasses(
        type="glasses_connection_state", modelName="Even Realities G1", status="CONNECTED"
    )
    photo(rig, app, "g1")
    assert len(rig.glasses.messages("photo_request")) == 1
    assert rig.posts[-1][1]["errorCode"] == "HARDWARE_MISSING"
    assert "Even Realities G1" in app.messages("tpa_connection_error")[-1]["message"]
    rig.from_glasses(type="glasses_connection_state", modelName="Mentra Live", status="CONNECTED")
    photo(rig, app, "live")
    assert len(rig.glasses.messages("photo_request")) == 2
