"""reference-behavior.md §2.14: every DisplayManager acceptance scenario (DM-T01..T13,
DM-X01..X15) against the core on a driven clock. Where the reference behaviour is a defect,
the test asserts the fixed behaviour (noted in each docstring)."""

from __future__ import annotations

import itertools
import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from tests.support.display_rig import DASH, USER, Rig, is_boot, is_clear
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

T = Timings()
BOOT = T.boot_duration
GAP = T.display_throttle


@pytest.fixture
def rig() -> Rig:
    return Rig()


# ---- A. the reference's own test folder ------------------------------------------------


def test_DM_T01_boot_queueing(rig):
    rig.start("A")
    assert is_boot(rig.last())
    assert rig.show("A", "first words") == "pending"
    assert is_boot(rig.last())
    rig.advance(BOOT)
    assert rig.last()["packageName"] == "A"
    assert rig.last()["layout"] == {"layoutType": "text_wall", "text": "first words"}


def test_DM_T02_per_app_throttling(rig):
    rig.started("A")
    rig.advance(1)
    assert rig.show("A", "D1") == "displayed"
    t1 = rig.now
    rig.advance(0.1)
    assert rig.show("A", "D2") == "pending"
    assert rig.last()["layout"]["text"] == "D1"
    rig.advance(0.1)
    assert rig.show("A", "D3") == "pending"
    rig.advance(0.155)
    assert rig.app_texts("A") == ["D1", "D3"]  # D2 never sent
    assert rig.main_times()[-1] == pytest.approx(t1 + GAP)


def test_DM_T03_boot_queue_processed(rig):
    rig.start("A")
    assert rig.show("A", "forced", forceDisplay=True) == "pending"
    assert rig.dm.pending("A") is not None
    assert rig.dm.pending("A").layout["text"] == "forced"
    assert is_boot(rig.last())
    rig.advance(BOOT)
    assert rig.dm.pending("A") is None
    assert rig.last()["layout"]["text"] == "forced"


@pytest.mark.parametrize("duration", [None, 5000], ids=["persistent", "with_duration"])
def test_DM_T04_pre_boot_display_preserved(rig, duration):
    """Fixed (P15): a persistent display is restored after a real 1.5 s boot too."""
    rig.started("A")
    rig.advance(1)
    rig.show("A", "A content", duration)
    content = rig.dm.screen
    rig.advance(0.5)
    rig.start("B")
    assert is_boot(rig.last())
    assert content.interrupted  # kept for restoration
    rig.advance(BOOT)
    assert rig.last()["packageName"] == "A"
    assert rig.last()["layout"]["text"] == "A content"
    assert rig.dm.screen is content


def test_DM_T05_main_app_wins_after_multi_boot(rig):
    rig.start("A")
    rig.start("B")
    rig.start("captions", "standard")
    for package in ("A", "B", "captions"):
        rig.show(package, f"{package} text")
    rig.advance(BOOT)
    first_app = next(m for m in rig.main() if m["packageName"] != DASH)
    assert first_app["packageName"] == "captions"
    assert rig.dm.screen.package_name == "captions"


def test_DM_T06_app_stopped_during_boot(rig):
    """Fixed: the reference failed all three assertions silently."""
    rig.start("A")
    rig.start("B")
    rig.show("A", "A text")
    rig.show("B", "B text")
    rig.advance(0.5)
    rig.stop("A")
    assert rig.dm.pending("A") is None
    assert rig.dm.pending("B") is not None
    rig.advance(BOOT)
    assert rig.last()["layout"]["text"] == "B text"
    rig.advance(20)
    assert rig.app_texts("A") == []


def test_DM_T07_no_restore_for_a_stopped_app(rig):
    rig.started("A")
    rig.advance(1)
    rig.show("A", "A text")
    rig.advance(1)
    rig.stop("A")
    rig.advance(1)
    rig.start("B")
    assert is_boot(rig.last())
    assert "A" not in rig.dm.latest
    rig.advance(BOOT + 1)
    assert rig.last()["packageName"] != "A"
    assert rig.dm.screen is None or getattr(rig.dm.screen, "package_name", None) != "A"


def test_DM_T08_pending_request_shown_on_stop(rig):
    rig.started("A", "B")
    rig.advance(1)
    rig.show("A", "A text", 5000)
    assert rig.dm.lock.holder == "A"
    rig.advance(0.5)
    assert rig.show("B", "B text") == "pending"
    rig.advance(0.5)
    rig.stop("A")
    assert rig.last()["layout"]["text"] == "B text"
    assert rig.main_times()[-1] == rig.now  # at once, no timer to wait for
    assert rig.dm.pending("B") is None
    assert rig.dm.screen.package_name == "B"


def test_DM_T09_oldest_pending_first(rig):
    rig.started("A", "B", "C")
    rig.advance(1)
    rig.show("A", "A text", 10000)
    rig.advance(0.5)
    rig.show("B", "B text")
    rig.advance(1)
    rig.show("C", "C text")
    rig.stop("A")
    assert rig.last()["layout"]["text"] == "B text"


def test_DM_T10_stopped_apps_pending_requests_ignored(rig):
    """Fixed: the stopped App's entry is dropped, not left in the queue."""
    rig.started("A", "B", "C")
    rig.advance(1)
    rig.show("A", "A text", 10000)
    rig.advance(0.5)
    rig.show("C", "C text")  # the oldest pending request
    rig.advance(0.5)
    rig.show("B", "B text")
    rig.stop("C")
    assert rig.dm.pending("C") is None
    rig.stop("A")
    assert rig.last()["layout"]["text"] == "B text"
    rig.advance(20)
    assert rig.app_texts("C") == []


def test_DM_T11_consumed_display_not_restored(rig):
    rig.started("A")
    rig.advance(1)
    rig.show("A", "once", 0)
    rig.advance(2.5)  # more than 1 s old, and A's lock has lapsed
    assert rig.dm.lock_holder() is None
    rig.start("B")
    assert is_boot(rig.last())
    rig.advance(BOOT)
    assert rig.app_texts("A") == ["once"]
    assert is_clear(rig.last())


def test_DM_T12a_no_restore_when_owner_stopped(rig):
    rig.started("A")
    rig.advance(1)
    rig.show("A", "A text")
    rig.advance(0.5)
    rig.start("B")
    rig.stop("A")
    rig.advance(BOOT)
    assert rig.app_texts("A") == ["A text"]
    assert is_clear(rig.last())


def test_DM_T12b_restore_when_owner_running_and_fresh(rig):
    rig.started("A")
    rig.advance(1)
    rig.show("A", "A text")
    rig.advance(0.5)
    rig.start("B")
    rig.advance(BOOT)
    assert rig.app_texts("A") == ["A text", "A text"]
    assert rig.last()["packageName"] == "A"


def test_DM_T13_unknown_app_rejected(rig, caplog):
    before = len(rig.sent)
    with caplog.at_level("INFO", "glasscloud.display"):
        assert rig.show("com.unknown", "hello") == "rejected"
    assert len(rig.sent) == before
    assert "not running" in caplog.text


# ---- B. derived scenarios ----------------------------------------------------------------


def test_DM_X01_dashboard_view_is_never_throttled(rig):
    rig.start(DASH)
    rig.started("A")
    rig.advance(1)
    rig.show("A", "D1")
    t1 = rig.now
    rig.advance(0.1)
    layout = {"layoutType": "double_text_wall", "topText": "10:00", "bottomText": ""}
    assert rig.show(DASH, "", view="dashboard", layout=layout) == "displayed"
    assert rig.sent[-1][0] == t1 + 0.1 and rig.sent[-1][1]["view"] == "dashboard"
    rig.advance(GAP - 0.1)
    assert rig.show("A", "D2") == "displayed"  # the dashboard did not move the throttle clock


def test_DM_X02_dashboard_app_has_no_boot_screen(rig):
    rig.start(DASH)
    assert rig.main() == []
    assert not rig.dm.booting


def test_DM_X03_overlapping_starts_plural_boot_screen(rig):
    rig.start("com.a", name="Alpha")
    rig.advance(1)
    rig.start("com.b", name="Beta")
    boot = rig.last()
    assert boot["layout"]["title"] == "// MentraOS - Starting Apps"
    assert boot["layout"]["text"] == "Alpha, Beta"
    rig.advance(BOOT - 0.01)
    assert is_boot(rig.last()) and rig.dm.booting
    rig.advance(0.01)
    assert not rig.dm.booting
    assert is_clear(rig.last())
    assert rig.main_times()[-1] == pytest.approx(rig.t0 + 1 + BOOT)


def test_DM_X04_expiry_then_next_or_clear(rig):
    rig.started("A", "M", main="M")
    rig.advance(1)
    rig.show("A", "short", 1000)
    t1 = rig.now
    rig.advance(0.999)
    assert rig.last()["layout"]["text"] == "short"
    rig.advance(0.001)
    assert is_clear(rig.last())
    assert rig.main_times()[-1] == pytest.approx(t1 + 1)
    # with a next display underneath: the main App's persistent content comes back (P3b fixed)
    rig.show("M", "captions")
    rig.advance(1)
    rig.show("A", "short again", 1000)
    rig.advance(GAP)
    assert rig.last()["layout"]["text"] == "short again"
    rig.advance(1)
    assert rig.last()["layout"]["text"] == "captions"


def test_DM_X05_stop_clears_and_resets_main_app(rig):
    rig.started("S", main="S")
    assert rig.dm.main_app == "S"
    rig.advance(1)
    rig.show("S", "S text")
    rig.advance(1)
    rig.stop("S")
    assert is_clear(rig.last())
    assert rig.main_times()[-1] == rig.now
    assert rig.dm.main_app is None


def test_DM_X06_no_stale_send_after_newer_content(rig):
    """Fixed (P10b): at a 250 ms cadence the reference sent u0, u2, u1, u4, u3..."""
    rig.started("A")
    rig.advance(1)
    for i in range(12):
        rig.show("A", f"u{i}")
        rig.advance(0.25)
    rig.advance(1)
    sent = [int(t[1:]) for t in rig.app_texts("A")]
    assert sent == sorted(sent) and len(set(sent)) == len(sent)
    assert sent[-1] == 11


def test_DM_X07_different_apps_are_spaced_by_the_throttle(rig):
    """Fixed (P11): the reference's per-App timers landed 50 ms apart."""
    rig.started("A", "B", "M", main="M")
    rig.advance(1)
    rig.show("M", "M1")
    rig.advance(0.05)
    rig.show("M", "M2")
    rig.show("A", "A1", 500)
    rig.advance(0.05)
    rig.show("B", "B1", 500)
    rig.advance(5)
    times = rig.main_times()
    assert all(b - a >= GAP - 1e-6 for a, b in itertools.pairwise(times))
    assert {"A1", "B1", "M2"} <= set(rig.texts())


def test_DM_X08_lock_expires_by_time(rig):
    """Fixed (P3): the lock expires after 2 s idle or 10 s, even when nothing redraws."""
    rig.started("A", "B")
    rig.advance(1)
    rig.show("A", "A persistent")
    t1 = rig.now
    rig.advance(1)
    assert rig.show("B", "B waits") == "pending"
    rig.advance(1)  # A idle for 2 s: B's request goes out without anyone redrawing
    assert rig.last()["layout"]["text"] == "B waits"
    assert rig.main_times()[-1] == pytest.approx(t1 + T.display_lock_inactive)
    assert rig.dm.lock.holder == "B"


def test_DM_X08_lock_lifetime_is_not_extended_by_redraws(rig):
    rig.started("A", "B")
    rig.advance(1)
    t1 = rig.now
    rig.show("A", "A0")
    for i in range(1, 10):
        rig.advance(1)
        rig.show("A", f"A{i}")
        if i == 4:
            assert rig.show("B", "B waits") == "pending"
    assert rig.last()["layout"]["text"] == "A9"
    rig.advance(t1 + T.display_lock - rig.now)
    assert rig.last()["layout"]["text"] == "B waits"
    assert rig.show("B", "B now") in ("displayed", "pending")
    rig.advance(GAP)
    assert rig.last()["layout"]["text"] == "B now"


@pytest.mark.parametrize("blocker", ["expires", "idle"])
def test_DM_X09_blocked_main_update_shown_when_blocker_ends(rig, blocker):
    """Fixed (P12, P3b): the main App's blocked update is kept and shown, not cleared."""
    rig.started("M", "B", main="M")
    rig.advance(1)
    rig.show("M", "C1")
    rig.advance(1)
    rig.show("B", "B notice", 3000 if blocker == "expires" else None)
    rig.advance(0.5)
    assert rig.last()["layout"]["text"] == "B notice"
    assert rig.show("M", "C2") == "pending"
    rig.advance(1)
    assert rig.last()["layout"]["text"] == "B notice"
    rig.advance(3)
    assert rig.last()["layout"]["text"] == "C2"
    assert rig.last()["packageName"] == "M"
    rig.advance(30)
    assert rig.last()["layout"]["text"] == "C2"  # no duration, still not cleared


def test_DM_X10_every_boot_entry_resolved(rig):
    """Fixed (P1): the reference showed one entry and left the others blocking every clear."""
    rig.start("A")
    rig.start("B")
    rig.start("M", "standard")
    for package in ("A", "B", "M"):
        rig.show(package, f"{package} text")
    rig.advance(BOOT)
    assert rig.last()["packageName"] == "M"
    rig.advance(15)
    assert all(rig.dm.pending(p) is None for p in ("A", "B", "M"))
    assert {"A text", "B text", "M text"} <= set(rig.texts())
    times = rig.main_times()
    assert all(b - a >= GAP - 1e-6 for a, b in itertools.pairwise(times))
    for package in ("A", "B", "M"):
        rig.stop(package)
    rig.advance(1)
    assert is_clear(rig.last())  # clears are not suppressed


def test_DM_X11_boot_queued_duration_counts_from_shown(rig):
    """Fixed (P5): the reference never enforced it."""
    rig.start("A")
    rig.advance(1)
    rig.show("A", "two seconds", 2000)
    rig.advance(BOOT - 1)
    shown_at = rig.main_times()[-1]
    assert rig.last()["layout"]["text"] == "two seconds"
    rig.advance(1.999)
    assert rig.last()["layout"]["text"] == "two seconds"
    rig.advance(0.001)
    assert is_clear(rig.last())
    assert rig.main_times()[-1] == pytest.approx(shown_at + 2)


def _session() -> tuple[UserSession, RecordingEffects, ManualClock, RecordingConnection]:
    clock = ManualClock()
    effects = RecordingEffects()
    session = UserSession(USER, SessionServices(clock, effects, Timings()))
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    return session, effects, clock, glasses


def _bind(session, effects, record) -> RecordingConnection:
    session.start_app(record)
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    conn = RecordingConnection(record.package_name)
    assert session.bind_app(record, conn, {}) is None
    return conn


def test_DM_X12_second_standard_app_replaces_the_first(rig):
    session, effects, _clock, _glasses = _session()
    _bind(session, effects, app_record("com.s1", "standard"))
    assert session.display.main_app == "com.s1"
    # The first one is stopped only once the second one runs (a failed start keeps it).
    _bind(session, effects, app_record("com.s2", "standard"))
    assert [s.app.package_name for s in effects.stops] == ["com.s1"]
    assert session.display.main_app == "com.s2"


def test_failed_standard_start_keeps_the_running_standard_app_on_screen(rig):
    session, effects, clock, glasses = _session()
    s1 = _bind(session, effects, app_record("com.s1", "standard"))
    clock.advance(BOOT + 1)
    session.handle_app_text(
        s1,
        json.dumps(
            {
                "type": "display_event",
                "view": "main",
                "layout": {"layoutType": "text_wall", "text": "captions"},
            }
        ),
    )
    clock.advance(1)
    session.start_app(app_record("com.s2", "standard"))
    assert session.display.main_app == "com.s2"  # its boot screen while it starts
    effects.starts[-1].on_outcome(WebhookOutcome(False, 502, "HTTP 502"))
    clock.advance(BOOT + 1)
    assert effects.stops == []
    assert session.app_state("com.s1") == "running"
    assert session.display.main_app == "com.s1"
    last = glasses.messages("display_event")[-1]
    assert last["packageName"] == "com.s1" and last["layout"]["text"] == "captions"


def test_DM_X13_only_running_apps_display_as_themselves(rig):
    rig.start("A")
    rig.running.discard("A")  # started, not yet authenticated
    assert rig.show("A", "too early") == "rejected"
    assert rig.app_texts("A") == []
    # through a session: the frame names the socket's App, whatever was claimed before
    session, effects, clock, glasses = _session()
    app = _bind(session, effects, app_record("com.real"))
    clock.advance(BOOT + 1)
    session.handle_app_text(
        app,
        json.dumps(
            {"type": "display_event", "layout": {"layoutType": "text_wall", "text": "mine"}}
        ),
    )
    shown = glasses.messages("display_event")[-1]
    assert (shown["packageName"], shown["layout"]["text"]) == ("com.real", "mine")


def test_DM_X14_no_onboarding_block_after_boot(rig):
    """Onboarding is not implemented: nothing refuses displays in the 5 s after a boot."""
    rig.start("A")
    rig.start("B")
    rig.advance(BOOT + GAP)
    assert rig.show("A", "welcome?") == "displayed"
    rig.advance(1)
    rig.show("A", "A again")
    rig.advance(GAP)
    assert rig.last()["layout"]["text"] == "A again"


def test_DM_X15_reconnect_resends_main_view_and_dashboard():
    session, effects, clock, glasses = _session()
    app = _bind(session, effects, app_record("com.a"))
    dash = _bind(session, effects, app_record(DASH))
    clock.advance(BOOT + 1)
    session.handle_app_text(
        app,
        json.dumps(
            {
                "type": "display_event",
                "layout": {"layoutType": "text_wall", "text": "on screen"},
                "durationMs": 10000,
            }
        ),
    )
    session.handle_app_text(
        dash,
        json.dumps(
            {"type": "dashboard_system_update", "section": "topLeft", "content": "10:00, 85%"}
        ),
    )
    clock.advance(4)
    session.glasses_closed(glasses)
    clock.advance(1)
    again = RecordingConnection("glasses-2")
    session.attach_glasses(again)
    shown = {m["view"]: m for m in again.messages("display_event")}
    assert shown["main"]["layout"]["text"] == "on screen"
    assert shown["main"]["durationMs"] == 5000  # what is left of it
    assert shown["dashboard"]["layout"]["topText"] == "10:00, 85%"
    assert again.messages()[0]["type"] == "connection_ack"


def test_background_app_restart_puts_no_boot_screen_over_the_captions(rig):
    session, effects, clock, glasses = _session()
    captions = _bind(session, effects, app_record("com.captions", "standard"))
    side = _bind(session, effects, app_record("com.side", "background"))
    clock.advance(BOOT + 1)
    session.handle_app_text(
        captions,
        json.dumps(
            {
                "type": "display_event",
                "view": "main",
                "layout": {"layoutType": "text_wall", "text": "caption line"},
            }
        ),
    )
    clock.advance(1)
    glasses.clear()
    session.app_closed(side, 1006)  # the background App's socket is lost for good
    clock.advance(Timings().app_reconnect_grace + Timings().app_restart_backoff + 0.1)
    assert effects.starts[-1].app.package_name == "com.side"  # it is being restarted
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    assert session.bind_app(app_record("com.side", "background"), RecordingConnection(), {}) is None
    clock.advance(BOOT + 1)
    titles = [m["layout"].get("title", "") for m in glasses.messages("display_event")]
    assert not [t for t in titles if "Starting App" in t]
    assert session.display.screen is not None
    assert session.display.screen.layout["text"] == "caption line"
