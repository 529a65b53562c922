"""Capabilities and device state announced to Apps from what the glasses report
(core/device_state.py)."""

from __future__ import annotations

import json

import pytest

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.defaults import DEFAULT_CAPABILITIES
from glasscloud.core.ports import WebhookOutcome
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from tests.support.recorders import RecordingConnection, RecordingEffects, app_record
from tests.unit.test_session import glasses_event, start_and_bind


@pytest.fixture
def effects() -> RecordingEffects:
    return RecordingEffects()


@pytest.fixture
def session(effects) -> UserSession:
    return UserSession("reader@example.com", SessionServices(ManualClock(), effects, Timings()))


@pytest.fixture
def glasses(session) -> RecordingConnection:
    conn = RecordingConnection("glasses")
    session.attach_glasses(conn)
    return conn


def test_a_known_model_replaces_the_capabilities_and_apps_are_told(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    [ack] = app.messages("tpa_connection_ack")
    assert ack["capabilities"]["modelName"] == "Even Realities G1"
    app.clear()
    glasses_event(
        session,
        {"type": "glasses_connection_state", "modelName": "Mentra Live", "status": "CONNECTED"},
    )
    [update] = app.messages("capabilities_update")
    assert update["modelName"] == "Mentra Live"
    assert update["capabilities"]["hasCamera"] is True
    assert update["capabilities"]["hasDisplay"] is False
    [state] = app.messages("device_state_update")
    assert state["state"] == {"connected": True, "modelName": "Mentra Live"}
    assert state["fullSnapshot"] is False
    # the same report again changes nothing: nothing is sent
    app.clear()
    glasses_event(
        session,
        {"type": "glasses_connection_state", "modelName": "Mentra Live", "status": "CONNECTED"},
    )
    assert app.messages() == []
    # an App that binds later gets the new capabilities in its ack, then the whole state
    other = RecordingConnection("other")
    record = app_record("com.example.other")
    session.start_app(record)
    effects.starts[-1].on_outcome(WebhookOutcome(True, 200))
    assert session.bind_app(record, other, {}) is None
    messages = [json.loads(f) for f in other.frames]
    assert messages[0]["type"] == "tpa_connection_ack"
    assert messages[0]["capabilities"]["modelName"] == "Mentra Live"
    assert messages[1]["type"] == "device_state_update" and messages[1]["fullSnapshot"] is True
    assert DEFAULT_CAPABILITIES["modelName"] == "Even Realities G1"  # the default is untouched


def test_unknown_models_and_battery_change_state_not_capabilities(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    app.clear()
    glasses_event(
        session, {"type": "glasses_connection_state", "modelName": "Acme X", "status": "CONNECTED"}
    )
    assert app.messages("capabilities_update") == []
    assert app.messages("device_state_update")[0]["state"]["modelName"] == "Acme X"
    app.clear()
    glasses_event(session, {"type": "glasses_battery_update", "level": 80, "charging": False})
    assert app.messages("device_state_update")[0]["state"] == {
        "batteryLevel": 80,
        "charging": False,
    }


def test_core_status_update_reports_the_model_and_case(session, effects, glasses):
    app = start_and_bind(session, effects, app_record())
    app.clear()
    status = {
        "status": {
            "core_info": {},
            "connected_glasses": {
                "model_name": "Vuzix Z100",
                "battery_level": 55,
                "case_open": True,
                "case_battery_level": -1,
            },
        }
    }
    glasses_event(session, {"type": "core_status_update", "status": status})
    assert app.messages("capabilities_update")[0]["capabilities"]["hasMicrophone"] is False
    assert app.messages("device_state_update")[0]["state"] == {
        "connected": True,
        "modelName": "Vuzix Z100",
        "batteryLevel": 55,
        "caseOpen": True,
    }
