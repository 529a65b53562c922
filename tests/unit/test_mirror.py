"""The console's mirror tap (core/mirror.py): what it keeps, what it never keeps, and that a
session feeds it only while someone watches."""

from __future__ import annotations

import json
from typing import Any

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.mirror import CAPTIONS, MAX_TEXT, Mirror, render_layout, seed_from_display
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.records import AppRecord
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol import glasses as glasses_wire
from glasscloud.protocol.glasses import decode_glasses_message

PACKAGE = "com.example.captions"


class Conn:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_text(self, text: str) -> None:
        self.sent.append(text)

    def send_binary(self, data: bytes) -> None:
        pass

    def close(self, code: int, reason: str) -> None:
        pass


class Effects:
    def request_app_start(
        self, app: Any, user_id: str, sid: str, on_outcome: Any, on_send: Any = None
    ) -> None:
        if on_send is None or on_send():
            on_outcome(WebhookOutcome(True, 200))

    def request_app_stop(self, app: Any, user_id: str, sid: str, reason: str, done: Any) -> None:
        done()

    def save_running_apps(self, user_id: str, packages: list[str]) -> None:
        pass

    def save_resume_state(self, user_id: str, state: dict[str, Any]) -> None:
        pass


def running_session() -> tuple[UserSession, ManualClock, Conn, Conn]:
    clock = ManualClock()
    session = UserSession("u@example.com", SessionServices(clock, Effects(), Timings()))
    glasses, app = Conn(), Conn()
    session.attach_glasses(glasses)
    record = AppRecord(PACKAGE, "Captions", "http://127.0.0.1:9", app_type="standard")
    session.start_app(record)
    assert session.bind_app(record, app, {}) is None
    clock.advance(10)  # past the boot screen
    return session, clock, glasses, app


def display(session: UserSession, app: Conn, layout: dict, view: str = "main") -> None:
    session.handle_app_text(
        app,
        json.dumps(
            {"type": "display_event", "packageName": PACKAGE, "view": view, "layout": layout}
        ),
    )


def test_layouts_are_kept_as_their_rendered_text_only():
    assert render_layout({"layoutType": "text_wall", "text": "hi", "extra": "x"}) == {
        "layoutType": "text_wall",
        "text": "hi",
    }
    assert render_layout({"layoutType": "double_text_wall", "topText": "a"}) == {
        "layoutType": "double_text_wall",
        "topText": "a",
        "bottomText": "",
    }
    assert (
        render_layout({"layoutType": "reference_card", "title": "T", "text": "x"})["title"] == "T"
    )
    card = render_layout({"layoutType": "dashboard_card", "leftText": "L", "rightText": "R"})
    assert card == {"layoutType": "dashboard_card", "leftText": "L", "rightText": "R"}
    bitmap = render_layout({"layoutType": "bitmap_view", "data": "A" * 400})
    assert bitmap == {"layoutType": "bitmap_view", "bitmapBytes": 300}  # never the image
    assert (
        render_layout({"layoutType": "text_wall", "text": "x" * 10_000})["text"] == "x" * MAX_TEXT
    )
    assert render_layout("nonsense") == {"layoutType": "unknown"}


def test_only_display_frames_are_read():
    mirror = Mirror(lambda: 1.0)
    seen: list[dict] = []
    mirror.add(seen.append)
    mirror.glasses_frame(glasses_wire.settings_update({"brightness": 50}, "ts"))
    mirror.glasses_frame('{"type":"display_event", not json')
    assert seen == [] and mirror.main is None
    mirror.glasses_frame(
        glasses_wire.display_event(
            PACKAGE, "dashboard", {"layoutType": "text_wall", "text": "up"}, None, "ts"
        )
    )
    assert seen[-1]["type"] == "dashboard"
    assert mirror.dashboard["layout"]["text"] == "up"


def test_captions_are_a_bounded_ring_and_interims_are_replaced():
    mirror = Mirror(lambda: 1.0)
    seen: list[dict] = []
    mirror.add(seen.append)
    mirror.caption({"text": "hel", "isFinal": False, "transcribeLanguage": "en-US"})
    mirror.caption({"text": "hello", "isFinal": True, "transcribeLanguage": "en-US"})
    assert [c["text"] for c in mirror.captions] == ["hello"]
    assert seen[-1]["replace"] is True
    for i in range(CAPTIONS + 10):
        mirror.caption({"text": f"line {i}", "isFinal": True, "transcribeLanguage": "en-US"})
    assert len(mirror.captions) == CAPTIONS
    assert mirror.captions[-1]["text"] == f"line {CAPTIONS + 9}"
    assert set(mirror.snapshot()["captions"][0]) == {
        "text",
        "isFinal",
        "language",
        "speakerId",
        "at",
    }


def test_a_session_feeds_the_mirror_only_while_it_is_set():
    session, clock, glasses, app = running_session()
    assert session.ctx.mirror is None
    display(session, app, {"layoutType": "text_wall", "text": "before"})  # no tap: nothing kept

    mirror = Mirror(clock.wall)
    seed_from_display(mirror, session.display)
    assert mirror.main["layout"] == {"layoutType": "text_wall", "text": "before"}
    assert mirror.main["packageName"] == PACKAGE
    session.ctx.mirror = mirror
    seen: list[dict] = []
    mirror.add(seen.append)

    clock.advance(1)
    display(session, app, {"layoutType": "reference_card", "title": "Now", "text": "shown"})
    assert seen[-1]["type"] == "main"
    assert mirror.main["layout"] == {
        "layoutType": "reference_card",
        "title": "Now",
        "text": "shown",
    }
    session.handle_glasses_message(
        decode_glasses_message(
            '{"type":"local_transcription","text":"hi there","isFinal":true,'
            '"transcribeLanguage":"en-US"}'
        )
    )
    assert mirror.captions[-1]["text"] == "hi there"
    # the mirror follows the display manager, also while the glasses are away
    session.glasses_closed(glasses)
    clock.advance(1)
    display(session, app, {"layoutType": "text_wall", "text": "while away"})
    assert mirror.main["layout"]["text"] == "while away"

    assert mirror.remove(seen.append) is True  # nobody watches any more
    session.ctx.mirror = None
    clock.advance(1)
    display(session, app, {"layoutType": "text_wall", "text": "after"})
    assert mirror.main["layout"]["text"] == "while away"


def test_the_boot_screen_and_a_clear_are_mirrored():
    session, clock, _glasses, app = running_session()
    display(session, app, {"layoutType": "text_wall", "text": "captions"})
    mirror = Mirror(clock.wall)
    session.ctx.mirror = mirror
    clock.advance(1)
    session.stop_app(PACKAGE)
    clock.advance(1)
    assert mirror.main["layout"] == {"layoutType": "text_wall", "text": ""}  # cleared
    record = AppRecord("com.example.other", "Other", "http://127.0.0.1:9", app_type="standard")
    session.start_app(record)
    assert mirror.main["layout"]["layoutType"] == "reference_card"
    assert "Starting App" in mirror.main["layout"]["title"]
    fresh = Mirror(clock.wall)
    seed_from_display(fresh, session.display)
    assert fresh.main["layout"]["text"] == "Other"
