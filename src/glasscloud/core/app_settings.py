"""A user's settings for one App: which changes the App's schema accepts, what the phone
and the App are shown, and who is told of a change. Pure: the shell reads the schema and
the stored values, stores what `check_changes` returns, then asks the session to deliver.

Rules, in order:
1. A change names a `key` of the App's schema; groups and titleValue rows hold no value.
2. The value fits the setting's type: toggle a boolean; text a string (bounded); select an
   option's value; multiselect a list of option values; slider, numeric_input and
   time_picker a number within min/max. A change that does not fit refuses the whole
   request (nothing stored) with `INVALID_SETTING` naming the setting.
3. The App sees the full list (schema + `value`, as in `tpa_connection_ack`): the SDK diffs
   whole lists and would report every missing key as removed.
4. A change reaches the App of this user only: its own socket gets `settings_update` if it
   is connected, and its server is told (`{publicUrl}/settings`) while the App is running
   for the user (also during a socket's grace period); an App not running learns the
   values from its next `tpa_connection_ack`.
"""

from __future__ import annotations

import math
from typing import Any

from glasscloud.core.apps import AppSlot
from glasscloud.core.defaults import app_settings_for_ack
from glasscloud.protocol import app as app_wire
from glasscloud.protocol.errors import ErrorCode, ProtocolError

MAX_CHANGES = 200
MAX_TEXT_VALUE = 10_000
_NUMERIC = ("slider", "numeric_input", "time_picker")
_NO_VALUE = ("group", "titleValue")


def parse_changes(body: Any) -> list[tuple[str, Any]]:
    """`{key, value}` or a list of them (the phone sends either) as (key, value) pairs."""
    items = body if isinstance(body, list) else [body]
    if not items:
        raise ProtocolError(ErrorCode.INVALID_FIELD, "The list of settings is empty.", "key")
    if len(items) > MAX_CHANGES:
        raise ProtocolError(
            ErrorCode.INVALID_FIELD,
            f"At most {MAX_CHANGES} settings can be changed at once; got {len(items)}.",
        )
    changes = []
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(body, list) else ""
        if not isinstance(item, dict) or "key" not in item or "value" not in item:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD,
                "Each setting change must be an object with `key` and `value`.",
                f"{where}key".lstrip("."),
            )
        if not isinstance(item["key"], str) or not item["key"]:
            raise ProtocolError(
                ErrorCode.INVALID_FIELD, "`key` must be a non-empty string.", f"{where}key"
            )
        changes.append((item["key"], item["value"]))
    return changes


def check_changes(
    schema: tuple[dict[str, Any], ...], changes: list[tuple[str, Any]]
) -> dict[str, Any]:
    """The changes as key -> value if every one fits the schema (rules 1-2); else a
    ProtocolError(INVALID_SETTING) whose `field` is the setting's key."""
    by_key = {s.get("key"): s for s in schema if s.get("key")}
    accepted: dict[str, Any] = {}
    for key, value in changes:
        setting = by_key.get(key)
        if setting is None or setting.get("type") in _NO_VALUE:
            known = ", ".join(k for k, s in by_key.items() if s.get("type") not in _NO_VALUE)
            raise _refuse(key, f"The App has no setting '{key}' (its settings: {known or 'none'}).")
        _check_value(key, setting, value)
        accepted[key] = value
    return accepted


def _check_value(key: str, setting: dict[str, Any], value: Any) -> None:
    kind = setting.get("type")
    label = f"'{key}' ({kind})"
    if kind == "toggle":
        if not isinstance(value, bool):
            raise _refuse(key, f"Setting {label} takes true or false, not {value!r}.")
    elif kind in ("text", "text_no_save_button"):
        if not isinstance(value, str):
            raise _refuse(key, f"Setting {label} takes a string, not {value!r}.")
        if len(value) > MAX_TEXT_VALUE:
            raise _refuse(key, f"Setting {label} is longer than {MAX_TEXT_VALUE} characters.")
    elif kind in ("select", "select_with_search"):
        _check_option(key, label, setting, value)
    elif kind == "multiselect":
        if not isinstance(value, list):
            raise _refuse(key, f"Setting {label} takes a list of option values, not {value!r}.")
        for item in value:
            _check_option(key, label, setting, item)
    elif kind in _NUMERIC:
        if not _is_number(value):
            raise _refuse(key, f"Setting {label} takes a number, not {value!r}.")
        low = setting.get("min", 0 if kind == "time_picker" else None)
        high = setting.get("max")
        if (_is_number(low) and value < low) or (_is_number(high) and value > high):
            bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
            raise _refuse(key, f"Setting {label} must be within {bounds}; got {value!r}.")


def _check_option(key: str, label: str, setting: dict[str, Any], value: Any) -> None:
    options = setting.get("options")
    if isinstance(value, (dict, list)):
        raise _refuse(key, f"Setting {label} takes one option's value, not {value!r}.")
    if isinstance(options, list) and options:
        allowed = [o.get("value") for o in options if isinstance(o, dict)]
        if not any(value == a and type(value) is type(a) for a in allowed):
            shown = ", ".join(repr(a) for a in allowed)
            raise _refuse(key, f"Setting {label} must be one of {shown}; got {value!r}.")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _refuse(key: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.INVALID_SETTING, message, key)


def app_view(schema: tuple[dict[str, Any], ...], stored: dict[str, Any]) -> list[dict[str, Any]]:
    """What the App holds (rule 3): each setting with its `value`."""
    return app_settings_for_ack(schema, stored)


def phone_view(schema: tuple[dict[str, Any], ...], stored: dict[str, Any]) -> list[dict[str, Any]]:
    """What the phone's settings screen reads: each setting with `selected` (the stored value,
    else the default), as the reference's GET /appsettings/{package} answers."""
    result = []
    for item in schema:
        entry = dict(item)
        key = entry.get("key")
        if key and entry.get("type") not in _NO_VALUE:
            entry["selected"] = stored.get(key, entry.get("defaultValue"))
        result.append(entry)
    return result


def tell_app(slot: AppSlot | None, settings: list[dict[str, Any]], timestamp: str) -> bool:
    """The user's settings for the App of `slot` changed (`settings`: the App's full list,
    rule 4): its socket gets `settings_update` if connected. Returns True if the App runs
    for this user, so its server is to be told too."""
    if slot is None or not slot.active:
        return False
    if slot.live:
        slot.conn.send_text(  # type: ignore[union-attr]
            app_wire.settings_update(slot.package_name, slot.app_session_id, settings, timestamp)
        )
    return True
