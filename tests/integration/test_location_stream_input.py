"""Bad input to location, camera streaming and translation over real sockets: each is a
coded error whose sentence names the field, the socket stays, nothing reaches the glasses."""

from __future__ import annotations

import pytest

from tests.support.scenarios import running_app

USER = "hardware@example.com"
PERMS = ("LOCATION", "CAMERA", "MICROPHONE")


@pytest.mark.parametrize(
    ("msg", "code", "field", "words"),
    [
        ({"type": "location_poll_request"}, "INVALID_FIELD", "correlationId", "correlationId"),
        (
            {"type": "location_poll_request", "correlationId": "p", "accuracy": "exact"},
            "INVALID_FIELD",
            "accuracy",
            "realtime",
        ),
        ({"type": "rtmp_stream_request"}, "INVALID_FIELD", "rtmpUrl", "rtmpUrl"),
        (
            {"type": "rtmp_stream_request", "rtmpUrl": "https://example.com/live"},
            "INVALID_FIELD",
            "rtmpUrl",
            "rtmp://",
        ),
        (
            {"type": "rtmp_stream_request", "rtmpUrl": "rtmp://h/l", "audio": []},
            "INVALID_FIELD",
            "audio",
            "object",
        ),
        ({"type": "rtmp_stream_stop", "streamId": 5}, "INVALID_FIELD", "streamId", "string"),
        (
            {
                "type": "subscription_update",
                "subscriptions": [{"stream": "location_stream", "rate": "ludicrous"}],
            },
            "INVALID_FIELD",
            "subscriptions[0].rate",
            "standard",
        ),
        (
            {"type": "subscription_update", "subscriptions": ["translation:es-ES-to-en-US"]},
            "TRANSLATION_UNAVAILABLE",
            "subscriptions",
            "translation:es-ES-to-en-US",
        ),
    ],
)
async def test_bad_app_requests_are_coded_errors_naming_the_field(
    server, http, msg, code, field, words
):
    app, glasses = await running_app(server, http, user=USER, permissions=PERMS)
    inbox = app.inboxes[USER]
    await inbox.send(msg)
    error = await inbox.wait_for("tpa_connection_error")
    assert (error["code"], error["field"]) == (code, field)
    assert words in error["message"]
    await inbox.send({"type": "stream_status_check"})
    answer = await inbox.wait_for("stream_status_check_response")  # the socket stays
    assert answer["hasActiveStream"] is False
    assert glasses.of_type("start_rtmp_stream") == []
    assert glasses.of_type("request_single_location") == []
    await glasses.close()


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        ({"type": "location_update", "lat": 91, "lng": 0}, "lat"),
        ({"type": "location_update", "lat": 0, "lng": -181}, "lng"),
        ({"type": "location_update", "lat": 0, "lng": 0, "correlationId": 3}, "correlationId"),
        ({"type": "rtmp_stream_status", "status": "exploded"}, "status"),
        ({"type": "rtmp_stream_status", "status": "streaming", "stats": {"fps": "x"}}, "stats.fps"),
    ],
)
async def test_bad_glasses_reports_are_coded_errors_naming_the_field(server, http, msg, field):
    app, glasses = await running_app(server, http, user=USER, permissions=PERMS)
    await app.inboxes[USER].send({"type": "subscription_update", "subscriptions": ["*"]})
    await glasses.send(msg)
    error = await glasses.wait_for("connection_error")
    assert (error["code"], error["field"]) == ("INVALID_FIELD", field)
    assert app.inboxes[USER].of_type("data_stream") == []
    await glasses.close()
