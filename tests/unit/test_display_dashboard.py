"""reference-behavior.md §7.5: the dashboard acceptance checks DB-1..DB-8, plus the
validation of the dashboard_* messages and of layouts (protocol.app)."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from tests.support.display_rig import DASH, USER, Rig
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record


@pytest.fixture
def rig() -> Rig:
    r = Rig()
    r.start(DASH)
    r.started("a1", "a2")
    return r


def system(rig: Rig, section: str, content: str) -> None:
    assert (
        rig.dm.app_message(
            DASH, "dashboard_system_update", {"section": section, "content": content}
        )
        is None
    )


def write(rig: Rig, package: str, content, modes=("main",)) -> None:
    assert (
        rig.dm.app_message(
            package, "dashboard_content_update", {"content": content, "modes": list(modes)}
        )
        is None
    )


def mode(rig: Rig, value: str, package: str = DASH) -> ProtocolError | None:
    return rig.dm.app_message(package, "dashboard_mode_change", {"mode": value})


def sections(rig: Rig) -> None:
    system(rig, "topLeft", "10:00, 85%")
    system(rig, "topRight", "Meet @ 11AM")
    system(rig, "bottomLeft", "John: hi")


def shown(rig: Rig) -> dict:
    frame = rig.dashboard()[-1]
    assert frame["packageName"] == DASH and "durationMs" not in frame
    return frame["layout"]


def test_DB_1_main_mode_layout(rig):
    sections(rig)
    assert shown(rig) == {
        "layoutType": "double_text_wall",
        "topText": "10:00, 85%\nJohn: hi",
        "bottomText": "Meet @ 11AM\n",
    }


def test_DB_2_newest_item_shown_and_head_up_rotates(rig):
    sections(rig)
    write(rig, "a1", "first")
    rig.advance(1)
    write(rig, "a2", "second")
    assert shown(rig)["bottomText"].endswith("second")
    rig.dm.head_position("up")
    assert shown(rig)["bottomText"].endswith("first")
    rig.dm.head_position("up")
    assert shown(rig)["bottomText"].endswith("second")
    # fixed (C27): an update does not reorder the rotation
    write(rig, "a1", "first, updated")
    assert shown(rig)["bottomText"].endswith("second")
    rig.dm.head_position("up")
    assert shown(rig)["bottomText"].endswith("first, updated")
    rig.dm.head_position("down")
    assert shown(rig)["bottomText"].endswith("first, updated")


def test_DB_3_bottom_right_section(rig):
    sections(rig)
    write(rig, "a1", {"layoutType": "dashboard_card", "leftText": "L", "rightText": "R"})
    system(rig, "bottomRight", "BR")
    assert shown(rig)["bottomText"] == "Meet @ 11AM\nBR\n\nL | R"


def test_DB_4_expanded_mode(rig):
    sections(rig)
    assert mode(rig, "expanded") is None
    assert shown(rig) == {
        "layoutType": "text_wall",
        "text": "10:00, 85% | Meet @ 11AM\nNo expanded content available",
    }
    write(rig, "a1", {"layoutType": "reference_card", "title": "T", "text": "x"}, ["expanded"])
    assert shown(rig)["text"] == "10:00, 85% | Meet @ 11AM\nT\nx"


def test_DB_5_only_the_system_dashboard_sets_sections_and_mode(rig):
    sections(rig)
    before = len(rig.dashboard())
    error = rig.dm.app_message(
        "a1", "dashboard_system_update", {"section": "topLeft", "content": "spoof"}
    )
    assert error is not None and error.code is ErrorCode.PERMISSION_DENIED
    error = mode(rig, "expanded", package="a1")
    assert error is not None and error.code is ErrorCode.PERMISSION_DENIED
    assert len(rig.dashboard()) == before
    assert rig.dm.dashboard.mode == "main"
    assert rig.to_apps == {}


def test_DB_6_main_only_content_in_expanded_mode_is_not_rendered(rig):
    sections(rig)
    mode(rig, "expanded")
    before = len(rig.dashboard())
    write(rig, "a1", "main only", ["main"])
    assert len(rig.dashboard()) == before


def test_DB_7_stopped_app_content_disappears(rig):
    sections(rig)
    write(rig, "a1", "one", ["main", "expanded"])
    write(rig, "a2", "two", ["main", "expanded"])
    rig.dm.head_position("up")  # focus on a1
    assert shown(rig)["bottomText"].endswith("one")
    rig.stop("a1")
    assert shown(rig)["bottomText"].endswith("two")
    rig.dm.head_position("up")  # one item left: nothing to rotate, still in range
    assert shown(rig)["bottomText"].endswith("two")
    mode(rig, "expanded")
    assert shown(rig)["text"].endswith("two")
    rig.stop("a2")
    assert shown(rig)["text"].endswith("No expanded content available")


def test_DB_8_every_connected_app_hears_the_mode_change():
    clock = ManualClock()
    effects = RecordingEffects()
    session = UserSession(USER, SessionServices(clock, effects, Timings()))
    session.attach_glasses(RecordingConnection("glasses"))
    conns = {}
    for package in (DASH, "com.a", "com.b"):
        session.start_app(app_record(package))
        effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
        conns[package] = RecordingConnection(package)
        session.bind_app(app_record(package), conns[package], {})
    session.handle_app_text(
        conns[DASH], json.dumps({"type": "dashboard_mode_change", "mode": "expanded"})
    )
    for package, conn in conns.items():
        changed = conn.messages("dashboard_mode_changed")
        assert [(m["mode"], m["sessionId"]) for m in changed] == [("expanded", f"{USER}-{package}")]
    # a non-system App is told why (and nobody hears anything)
    session.handle_app_text(
        conns["com.a"], json.dumps({"type": "dashboard_mode_change", "mode": "main"})
    )
    error = conns["com.a"].messages("tpa_connection_error")[-1]
    assert error["code"] == "PERMISSION_DENIED"
    assert len(conns["com.b"].messages("dashboard_mode_changed")) == 1


def test_third_party_dashboard_view_becomes_its_dashboard_item(rig):
    sections(rig)
    card = {"layoutType": "dashboard_card", "leftText": "Steps", "rightText": "4200"}
    assert rig.show("a1", "", view="dashboard", layout=card) == "dashboard"
    assert shown(rig)["bottomText"] == "Meet @ 11AM\nSteps | 4200"
    assert all(m["packageName"] == DASH for m in rig.dashboard())


# ---- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "field"),
    [
        ({"type": "dashboard_mode_change", "mode": "always_on"}, "mode"),
        ({"type": "dashboard_mode_change"}, "mode"),
        ({"type": "dashboard_system_update", "section": "middle", "content": "x"}, "section"),
        ({"type": "dashboard_system_update", "section": "topLeft", "content": 3}, "content"),
        ({"type": "dashboard_content_update", "content": "x", "modes": ["side"]}, "modes[0]"),
        ({"type": "dashboard_content_update", "content": 5}, "content"),
        (
            {"type": "dashboard_content_update", "content": {"layoutType": "bitmap_view"}},
            "content.layoutType",
        ),
        (
            {"type": "dashboard_content_update", "content": {"layoutType": "text_wall"}},
            "content.text",
        ),
        (
            {
                "type": "display_event",
                "layout": {"layoutType": "bitmap_animation", "frames": ["a"], "interval": "x"},
            },
            "layout.interval",
        ),
        (
            {
                "type": "display_event",
                "layout": {"layoutType": "bitmap_animation", "frames": [], "repeat": 1},
            },
            "layout.repeat",
        ),
        ({"type": "display_event", "layout": {"layoutType": "double_text_wall"}}, "layout.topText"),
        ({"type": "display_event", "layout": {"layoutType": "bitmap_view"}}, "layout.data"),
    ],
)
def test_malformed_dashboard_and_layout_messages_are_refused(obj, field):
    with pytest.raises(ProtocolError) as caught:
        app_wire.decode_app_message(json.dumps(obj))
    assert (caught.value.code, caught.value.field) == (ErrorCode.INVALID_FIELD, field)


def test_well_formed_dashboard_messages_decode():
    for obj in (
        {"type": "dashboard_mode_change", "mode": "expanded"},
        {"type": "dashboard_system_update", "section": "bottomRight", "content": ""},
        {"type": "dashboard_content_update", "content": "x", "modes": ["main", "always_on"]},
        {"type": "dashboard_content_update", "content": {"layoutType": "text_wall", "text": "t"}},
    ):
        assert app_wire.decode_app_message(json.dumps(obj)).obj == obj


def test_malformed_layout_never_reaches_the_glasses_and_the_app_is_told():
    clock = ManualClock()
    effects = RecordingEffects()
    session = UserSession(USER, SessionServices(clock, effects, Timings()))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    session.start_app(app_record("com.a"))
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = RecordingConnection("app")
    session.bind_app(app_record("com.a"), app, {})
    clock.advance(5)
    before = len(glasses.frames)
    for layout in (
        {"layoutType": "reference_card", "title": "t"},
        {"layoutType": "bitmap_animation", "frames": "nope"},
        {"layoutType": None},
    ):
        session.handle_app_text(app, json.dumps({"type": "display_event", "layout": layout}))
    session.handle_app_text(
        app, json.dumps({"type": "dashboard_content_update", "content": {"layoutType": "x"}})
    )
    assert len(glasses.frames) == before
    fields = [e["field"] for e in app.messages("tpa_connection_error")]
    assert fields == ["layout.text", "layout.frames", "layout.layoutType", "content.layoutType"]
    assert app.closed is None


def test_dashboard_package_is_configurable(monkeypatch):
    from glasscloud.cli import build_parser, server_config

    monkeypatch.delenv("GLASSCLOUD_DASHBOARD_PACKAGE", raising=False)
    assert server_config(build_parser().parse_args(["serve"])).dashboard_package == DASH
    monkeypatch.setenv("GLASSCLOUD_DASHBOARD_PACKAGE", "dev.augmentos.dashboard")
    args = build_parser().parse_args(["serve"])
    assert server_config(args).dashboard_package == "dev.augmentos.dashboard"
    args = build_parser().parse_args(["serve", "--dashboard-package", "com.my.dash"])
    assert server_config(args).dashboard_package == "com.my.dash"
