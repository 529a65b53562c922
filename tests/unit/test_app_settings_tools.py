"""The rules of core/app_settings.py and core/app_tools.py, and who the session tells of a
settings change: pure, with a ManualClock and recording connections."""

from __future__ import annotations

import pytest

from glasscloud.core import app_settings, app_tools
from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.protocol.errors import ErrorCode, ProtocolError
from tests.support.recorders import RecordingEffects, app_record
from tests.unit.test_session import start_and_bind

SCHEMA = (
    {"key": "on", "type": "toggle", "defaultValue": False},
    {"key": "n", "type": "numeric_input", "min": -1, "max": 1.5},
    {"key": "free", "type": "numeric_input"},
    {"key": "t", "type": "time_picker"},
    {"key": "pick", "type": "select", "options": [{"label": "1", "value": 1}]},
    {"key": "any", "type": "select_with_search"},
    {"key": "g", "type": "group", "title": "G"},
    {"label": "Version", "type": "titleValue", "value": "1.0"},
)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("on", True),
        ("n", -1),
        ("n", 1.5),
        ("free", 10**9),
        ("t", 3600),
        ("pick", 1),
        ("any", "whatever"),
    ],
)
def test_values_that_fit(key, value):
    assert app_settings.check_changes(SCHEMA, [(key, value)]) == {key: value}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("on", 1),
        ("n", 2),
        ("n", float("nan")),
        ("t", -5),
        ("pick", True),  # True == 1 in Python, but not the option's value
        ("pick", "1"),
        ("any", {"a": 1}),
        ("g", 1),
        ("Version", "2"),
        ("missing", 1),
    ],
)
def test_values_that_do_not_fit_name_the_setting(key, value):
    with pytest.raises(ProtocolError) as info:
        app_settings.check_changes(SCHEMA, [("on", True), (key, value)])
    assert info.value.code is ErrorCode.INVALID_SETTING
    assert info.value.field == key


def test_parse_changes_takes_one_or_a_list():
    assert app_settings.parse_changes({"key": "a", "value": 1}) == [("a", 1)]
    assert app_settings.parse_changes([{"key": "a", "value": 1}, {"key": "b", "value": None}]) == [
        ("a", 1),
        ("b", None),
    ]
    with pytest.raises(ProtocolError) as info:
        app_settings.parse_changes([{"key": "a", "value": 1}] * 201)
    assert info.value.code is ErrorCode.INVALID_FIELD


def test_views_for_the_app_and_the_phone():
    schema = ({"key": "a", "type": "toggle", "defaultValue": False}, {"key": "g", "type": "group"})
    assert app_settings.app_view(schema, {"a": True})[0]["value"] is True
    phone = app_settings.phone_view(schema, {})
    assert phone[0]["selected"] is False and "selected" not in phone[1]


# ---- who hears of a change --------------------------------------------------------------


@pytest.fixture
def session() -> UserSession:
    return UserSession(
        "u@example.com", SessionServices(ManualClock(), RecordingEffects(), Timings())
    )


def test_a_change_goes_to_that_apps_socket_only(session):
    effects = session.services.effects
    mine = start_and_bind(session, effects, app_record("com.example.mine"), "mine")
    other = start_and_bind(session, effects, app_record("com.example.other"), "other")
    settings = [{"key": "a", "value": 1}]
    assert session.app_settings_changed("com.example.mine", settings) is True
    [frame] = mine.messages("settings_update")
    assert frame["packageName"] == "com.example.mine"
    assert frame["sessionId"] == "u@example.com-com.example.mine"
    assert frame["settings"] == settings
    assert other.messages("settings_update") == []


def test_an_app_not_running_hears_nothing_now(session):
    assert session.app_settings_changed("com.example.none", []) is False
    session.start_app(app_record("com.example.loading"))  # its ack will carry the values
    assert session.app_settings_changed("com.example.loading", []) is False


def test_an_app_in_its_grace_period_is_told_through_its_server(session):
    conn = start_and_bind(session, session.services.effects, app_record("com.example.mine"))
    session.app_closed(conn, 1006)
    assert session.app_settings_changed("com.example.mine", []) is True
    assert conn.messages("settings_update") == []


# ---- tools --------------------------------------------------------------------------------

TOOLED = app_record(
    "com.example.tools",
    tools=(
        {
            "id": "go",
            "parameters": {
                "n": {"type": "number", "required": True},
                "flag": {"type": "boolean"},
            },
        },
    ),
)


def test_tool_calls_that_pass():
    app_tools.check_call(TOOLED, "go", {"n": 2.5, "flag": False, "extra": "ok"})
    app_tools.may_call(None, "u", ["com.example.tools"], "com.example.tools")
    app_tools.may_call("u", "u", ["com.example.tools"], "com.example.tools")


@pytest.mark.parametrize(
    ("tool", "params", "code", "field"),
    [
        ("nope", {}, ErrorCode.TOOL_NOT_FOUND, "toolId"),
        ("go", {}, ErrorCode.INVALID_FIELD, "toolParameters.n"),
        ("go", {"n": True}, ErrorCode.INVALID_FIELD, "toolParameters.n"),
        ("go", {"n": 1, "flag": "yes"}, ErrorCode.INVALID_FIELD, "toolParameters.flag"),
        ("go", {"n": 1, "x": [1]}, ErrorCode.INVALID_FIELD, "toolParameters.x"),
    ],
)
def test_tool_calls_refused(tool, params, code, field):
    with pytest.raises(ProtocolError) as info:
        app_tools.check_call(TOOLED, tool, params)
    assert (info.value.code, info.value.field) == (code, field)


def test_tools_only_for_the_callers_own_apps():
    with pytest.raises(ProtocolError) as info:
        app_tools.may_call("a", "b", ["p"], "p")
    assert info.value.code is ErrorCode.USER_MISMATCH
    with pytest.raises(ProtocolError) as info:
        app_tools.may_call(None, "b", [], "p")
    assert info.value.code is ErrorCode.APP_NOT_INSTALLED
    assert app_tools.user_tools([TOOLED])[0]["appPackageName"] == "com.example.tools"
