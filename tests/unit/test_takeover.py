"""The core's part of a cluster takeover (docs/cluster.md), on a driven clock: the node that
lets a user go says nothing to the Apps and persists nothing more; the node that takes the
user over restores the Apps after the glasses' ack and asks them by webhook at once; an App
that knocked at another node is asked again only if it is not running here."""

from __future__ import annotations

import json

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.registry import SessionRegistry
from glasscloud.core.timings import Timings
from glasscloud.protocol.close_codes import CloseCode
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record

USER = "dana@example.com"
PKG = "com.example.captions"
RECORD = app_record(PKG, "standard", ("MICROPHONE",))
SAVED = {PKG: {"main": {"layoutType": "text_wall", "text": "last caption"}}}


def registry_with(effects: RecordingEffects, clock: ManualClock) -> SessionRegistry:
    return SessionRegistry(SessionServices(clock, effects, Timings()))


def running_session(clock, effects):
    registry = registry_with(effects, clock)
    session, _ = registry.get_or_create(USER)
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)
    session.start_app(RECORD)
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = RecordingConnection("app")
    assert session.bind_app(RECORD, app, {}) is None
    return registry, session, glasses, app


def test_letting_go_tells_the_apps_nothing_and_persists_nothing():
    clock, effects = ManualClock(), RecordingEffects()
    registry, session, glasses, app = running_session(clock, effects)
    effects.running.clear()
    effects.resumes.clear()
    session.dispose(moved=CloseCode.NORMAL)
    assert registry.get(USER) is None
    assert glasses.closed is not None and glasses.closed[0] == CloseCode.NORMAL
    assert app.closed is None  # the SDK drops it when the new node's session_request arrives
    assert app.messages("app_stopped") == []
    assert effects.stops == []  # a late stop webhook would end the App's new session
    clock.advance(60)
    assert effects.running == {} and effects.resumes == {}
    # what the App still sends on its old socket is ignored without an answer
    app.clear()
    session.handle_app_text(app, json.dumps({"type": "subscription_update", "subscriptions": []}))
    session.app_closed(app, 1000)
    assert app.frames == [] and effects.starts[1:] == []


def test_a_user_taken_over_after_the_ack_gets_the_apps_back_by_webhook_at_once():
    clock, effects = ManualClock(), RecordingEffects()
    registry = registry_with(effects, clock)
    session, _ = registry.get_or_create(USER, resumable=False)
    glasses = RecordingConnection("glasses")
    session.attach_glasses(glasses)  # accepted before the lease was free: nothing runs yet
    assert glasses.messages("connection_ack")[0]["userSession"]["loadingApps"] == []
    session.restore([RECORD], SAVED)  # the lease is ours now
    assert [s.app.package_name for s in effects.starts] == [PKG]
    loading = [m for m in glasses.messages("app_state_change") if m.get("state") == "loading"]
    assert [m["packageName"] for m in loading] == [PKG]
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    app = RecordingConnection("app")
    assert session.bind_app(RECORD, app, {}) is None
    clock.advance(1.0)
    assert session.app_state(PKG) == "running"
    texts = [m["layout"].get("text") for m in glasses.messages("display_event")]
    assert "last caption" in texts  # what the App showed on the old node, shown again


def test_an_app_that_knocked_elsewhere_is_asked_again_only_when_lost_here():
    clock, effects = ManualClock(), RecordingEffects()
    _, session, _, app = running_session(clock, effects)
    assert session.restart_app(PKG, only_if_lost=True) is False  # live here: a stale knock
    assert len(effects.starts) == 1 and app.closed is None
    session.app_closed(app, 1006)  # now lost (grace period)
    assert session.restart_app(PKG, only_if_lost=True) is True
    assert len(effects.starts) == 2
    assert session.restart_app(PKG, only_if_lost=True) is False  # already being asked
    assert len(effects.starts) == 2
    assert session.restart_app("com.example.other", only_if_lost=True) is False
