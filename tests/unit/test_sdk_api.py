"""The SDK's bookkeeping without sockets: handler registrations and the subscription list
they imply, stream names, layouts, dashboard, settings, event models, the dispatcher and
the reconnect policy."""

from __future__ import annotations

import json

import pytest

from glasscloud.sdk import frames
from glasscloud.sdk.dashboard import Dashboard
from glasscloud.sdk.errors import InvalidStreamError
from glasscloud.sdk.events import EventManager
from glasscloud.sdk.layouts import Layouts
from glasscloud.sdk.models import AudioChunk, ButtonPress, Transcription
from glasscloud.sdk.reconnect import ReconnectPolicy
from glasscloud.sdk.registry import Dispatcher
from glasscloud.sdk.scaffold import app_files
from glasscloud.sdk.settings import Settings
from glasscloud.sdk.streams import transcription, translation

TS = "2026-11-25T19:21:40.361Z"


class Recorder:
    """Stands in for the session: records subscription lists and handler calls."""

    def __init__(self) -> None:
        self.lists: list[list[str]] = []
        self.calls: list[tuple] = []
        self.events = EventManager(self.emit, lambda: self.lists.append(self.events.subscriptions))

    def emit(self, registration, *args) -> None:
        self.calls.append((registration.stream, *args))
        registration.handler(*args)


def test_first_handler_subscribes_last_removal_unsubscribes():
    rec = Recorder()
    events = rec.events
    first = events.on_button_press(lambda p: None)
    second = events.on_button_press(lambda p: None)
    head = events.on_head_position(lambda h: None)
    assert rec.lists == [["button_press"], ["button_press", "head_position"]]
    first.remove()
    assert rec.lists[-1] == ["button_press", "head_position"] and len(rec.lists) == 2
    second.unsubscribe()
    assert rec.lists[-1] == ["head_position"]
    head.remove()
    head.remove()  # idempotent
    assert rec.lists == [
        ["button_press"],
        ["button_press", "head_position"],
        ["head_position"],
        [],
    ]
    assert not head.active


def test_decorator_forms_return_a_callable_registration():
    rec = Recorder()
    events = rec.events

    @events.on_button_press
    def pressed(press):
        return press.button_id

    @events.on_transcription(language="fr-FR")
    def heard(t):
        return t.text

    assert pressed(ButtonPress("main", "short", {})) == "main"
    assert heard.stream == "transcription:fr-FR"
    assert events.subscriptions == ["button_press", "transcription:fr-FR"]
    heard.remove()
    assert events.subscriptions == ["button_press"]


def test_delivery_matches_the_stream_string_exactly():
    rec = Recorder()
    seen = []
    rec.events.on_transcription(seen.append)
    rec.events.on_touch_event(seen.append, gesture="double_tap")
    data = {"type": "transcription", "text": "hi", "isFinal": True, "transcribeLanguage": "en-US"}
    assert not rec.events.dispatch("transcription", data)
    assert not rec.events.dispatch("transcription:fr-FR", data)
    assert not rec.events.dispatch("touch_event", {"gesture_name": "double_tap"})
    assert rec.events.dispatch("transcription:en-US", data)
    assert rec.events.dispatch("touch_event:double_tap", {"gesture_name": "double_tap"})
    assert isinstance(seen[0], Transcription) and seen[0].text == "hi" and seen[0].is_final
    assert seen[1].gesture == "double_tap"


def test_audio_chunks_arrive_as_bytes_and_samples():
    rec = Recorder()
    chunks = []
    rec.events.on_audio_chunk(chunks.append)
    assert not rec.events.dispatch_audio(b"")
    assert rec.events.dispatch_audio(b"\x01\x00\xff\xff")
    assert chunks == [AudioChunk(b"\x01\x00\xff\xff")]
    assert list(chunks[0].samples) == [1, -1] and chunks[0].sample_rate == 16000


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.on_transcription(print, language="english"),
        lambda e: e.on_translation("es", "en-US", print),
        lambda e: e.on_touch_event(print, gesture="wiggle"),
        lambda e: e.on("nonsense_stream", print),
    ],
)
def test_bad_streams_fail_at_registration(call):
    rec = Recorder()
    with pytest.raises(InvalidStreamError):
        call(rec.events)
    assert rec.lists == [] and rec.events.subscriptions == []


def test_stream_names_as_the_sdk_spells_them():
    assert transcription() == "transcription:en-US"
    assert (
        transcription("fr-FR", hints=["en", "de"], disable_language_identification=True)
        == "transcription:fr-FR?no-language-identification=true&hints=en%2Cde"
    )
    assert translation("all", "en-US") == "translation:all-to-en-US"


def layouts() -> tuple[Layouts, list[str]]:
    sent: list[str] = []
    return Layouts("com.p", sent.append, lambda: TS), sent


@pytest.mark.parametrize(
    "call,layout,view",
    [
        (lambda ui: ui.show_text_wall("a"), {"layoutType": "text_wall", "text": "a"}, "main"),
        (
            lambda ui: ui.show_double_text_wall("t", "b"),
            {"layoutType": "double_text_wall", "topText": "t", "bottomText": "b"},
            "main",
        ),
        (
            lambda ui: ui.show_reference_card("T", "x"),
            {"layoutType": "reference_card", "title": "T", "text": "x"},
            "main",
        ),
        (
            lambda ui: ui.show_dashboard_card("L", "R"),
            {"layoutType": "dashboard_card", "leftText": "L", "rightText": "R"},
            "dashboard",
        ),
        (
            lambda ui: ui.show_bitmap_view(b"BM"),
            {"layoutType": "bitmap_view", "data": "Qk0="},
            "main",
        ),
        (lambda ui: ui.clear_view(view="dashboard"), {"layoutType": "clear_view"}, "dashboard"),
    ],
)
def test_each_layout_makes_one_display_event(call, layout, view):
    layout_api, sent = layouts()
    call(layout_api)
    assert len(sent) == 1
    frame = json.loads(sent[0])
    assert list(frame) == ["timestamp", "sessionId", "type", "packageName", "view", "layout"]
    assert frame["layout"] == layout and frame["view"] == view and frame["sessionId"] == ""


def test_duration_and_view_are_checked_and_written_like_javascript():
    layout_api, sent = layouts()
    layout_api.show_text_wall("a", duration_ms=5000.0)
    assert sent[-1].endswith('"durationMs":5000}')
    with pytest.raises(ValueError):
        layout_api.show_text_wall("a", view="always_on")
    with pytest.raises(ValueError):
        layout_api.show_text_wall("a", duration_ms=-1)
    assert len(sent) == 1


def test_dashboard_write_and_mode():
    sent: list[str] = []
    modes: list[str] = []
    dashboard = Dashboard("com.p", "u-com.p", sent.append, lambda: TS, lambda r, *a: r(*a))
    dashboard.on_mode_change(modes.append)
    dashboard.write("hello", ["main", "expanded"])
    assert json.loads(sent[0]) == {
        "type": "dashboard_content_update",
        "packageName": "com.p",
        "sessionId": "u-com.p-com.p",
        "content": "hello",
        "modes": ["main", "expanded"],
        "timestamp": TS,
    }
    with pytest.raises(ValueError):
        dashboard.write("x", ["sideways"])
    dashboard.apply_mode("expanded")
    dashboard.apply_mode("expanded")
    dashboard.apply_mode("bogus")
    assert modes == ["expanded"] and dashboard.mode == "expanded"


def test_settings_from_the_ack_and_updates():
    resends: list[int] = []
    changes: list = []
    system: list = []
    settings = Settings(lambda r, *a: r(*a), lambda: resends.append(1))
    settings.apply_ack(
        {
            "settings": [
                {"key": "greeting", "value": "hello", "defaultValue": "hi"},
                {"key": "size", "defaultValue": 3},
            ],
            "mentraosSettings": {"brightness": 50},
        }
    )
    assert settings.get("greeting") == "hello" and settings.get("size") == 3
    assert settings.get("missing", "d") == "d" and settings.get_mentraos("brightness") == 50
    settings.on_change(changes.append)
    settings.on_mentraos_change("brightness", lambda new, old: system.append((new, old)))
    assert resends == [1]  # like the official SDK, a listener re-sends the list
    settings.apply_update([{"key": "greeting", "value": "yo"}, {"key": "size", "value": 3}])
    assert [(c.key, c.old_value, c.new_value) for c in changes[0]] == [("greeting", "hello", "yo")]
    settings.apply_update([{"key": "greeting", "value": "yo"}, {"key": "size", "value": 3}])
    assert len(changes) == 1  # nothing changed, nobody called
    settings.apply_system({"brightness": 80})
    assert system == [(80, 50)]


def test_button_press_without_a_press_type_is_sanitised_like_the_sdk():
    press = ButtonPress.from_data({"type": "button_press", "buttonId": "main"})
    assert (press.button_id, press.press_type) == ("unknown", "short")


async def test_dispatcher_runs_sync_and_async_handlers_in_order_and_survives_errors():
    from glasscloud.sdk.registry import Registration

    dispatcher = Dispatcher("test")
    order: list[str] = []

    async def slow(x):
        order.append(f"async {x}")

    def broken(x):
        raise RuntimeError("boom")

    for handler in (slow, broken, order.append):
        dispatcher.emit(Registration("s", handler, lambda r: None), "1")
    removed = Registration("s", order.append, lambda r: None)
    dispatcher.emit(removed, "never")
    removed.remove()
    await dispatcher.drain()
    assert order == ["async 1", "1"]
    await dispatcher.close()


def test_reconnect_policy_matches_the_sdk():
    policy = ReconnectPolicy()
    assert [policy.delay(n) for n in range(3)] == [1.0, 2.0, 4.0]
    for code, reason in [(1000, ""), (1001, ""), (1008, ""), (1011, "App stopped")]:
        assert not policy.should_reconnect(code, reason)
    assert not policy.should_reconnect(4000, "User session ended")
    assert policy.should_reconnect(1006, "") and policy.should_reconnect(1011, "oops")


def test_frames_keep_the_official_field_order():
    assert frames.subscription_update("p", ["a"], "s", TS) == (
        '{"type":"subscription_update","packageName":"p","subscriptions":["a"],'
        f'"sessionId":"s","timestamp":"{TS}"}}'
    )
    assert list(json.loads(frames.connection_init("s", "p", "k", TS))) == [
        "type",
        "sessionId",
        "packageName",
        "apiKey",
        "timestamp",
    ]


def test_scaffold_makes_a_valid_app():
    files = app_files("My-App")
    assert set(files) == {"app.py", "README.md"}
    compile(files["app.py"], "app.py", "exec")
    assert "com.example.my_app" in files["app.py"]
    assert "glasscloud apps create com.example.my_app" in files["README.md"]
    with pytest.raises(ValueError):
        app_files("1 bad name")
    with pytest.raises(ValueError):
        app_files("ok", package="NotAPackage")
