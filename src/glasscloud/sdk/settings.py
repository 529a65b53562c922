"""`session.settings`: the App's per-user settings (from the ack, then `settings_update` on
the socket or the cloud's POST to the App server's `/settings`, or `fetch()`) and the
MentraOS system settings (`mentraosSettings`, then `augmentos_settings_update`).

A change is reported once, however many of those paths carry it: values are compared, as
the official SDK does (but by equality, so a list value is not reported twice)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from glasscloud.sdk.models import SettingChange
from glasscloud.sdk.registry import Emit, Registration

ChangeHandler = Callable[[list[SettingChange]], Any]
SystemHandler = Callable[[Any, Any], Any]
ValueHandler = Callable[[Any, Any], Any]
Fetch = Callable[[], Awaitable[Any]]

_MISSING = object()


def _values(entries: Any) -> dict[str, Any]:
    """{key: value} of an AppSetting list; an entry without `value` uses `defaultValue`."""
    values: dict[str, Any] = {}
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            values[entry["key"]] = entry.get("value", entry.get("defaultValue"))
    return values


class Settings:
    def __init__(
        self, emit: Emit, on_system_listener: Callable[[], None], fetch: Fetch | None = None
    ) -> None:
        self._emit = emit
        self._on_system_listener = on_system_listener
        self._fetch = fetch
        self._value_handlers: dict[str, list[Registration]] = {}
        self._values: dict[str, Any] = {}
        self._system: dict[str, Any] = {}
        self._handlers: list[Registration] = []
        self._system_handlers: dict[str, list[Registration]] = {}

    # ---- reading -----------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def all(self) -> dict[str, Any]:
        return dict(self._values)

    def get_mentraos(self, key: str, default: Any = None) -> Any:
        """A MentraOS system setting, e.g. `metricSystemEnabled` or `brightness`."""
        return self._system.get(key, default)

    # ---- listening ---------------------------------------------------------------------

    def on_change(self, handler: ChangeHandler) -> Registration:
        """`handler(changes)` after each `settings_update` that changed at least one value."""
        registration = Registration("settings", handler, self._handlers.remove)
        self._handlers.append(registration)
        return registration

    def on_value_change(self, key: str, handler: ValueHandler) -> Registration:
        """`handler(new_value, old_value)` when the setting `key` changes (the official
        SDK's `onValueChange`)."""
        handlers = self._value_handlers.setdefault(key, [])
        registration = Registration(f"settings:{key}", handler, handlers.remove)
        handlers.append(registration)
        return registration

    async def fetch(self) -> dict[str, Any]:
        """Read the user's settings from the cloud now (`GET /appsettings/user/{package}`),
        apply them (handlers fire for what changed) and return them all."""
        if self._fetch is None:
            raise RuntimeError("this session cannot fetch settings (no cloud URL)")
        self.apply_update(await self._fetch())
        return self.all()

    def on_mentraos_change(self, key: str, handler: SystemHandler) -> Registration:
        """`handler(new_value, old_value)` when the system setting `key` changes."""
        handlers = self._system_handlers.setdefault(key, [])
        registration = Registration(f"mentraos:{key}", handler, handlers.remove)
        handlers.append(registration)
        # The official SDK re-sends its subscription list here; a Python App does the same
        # so that both look alike on the wire.
        self._on_system_listener()
        return registration

    # ---- updates from the cloud --------------------------------------------------------

    def apply_ack(self, ack: dict[str, Any]) -> None:
        self._values = _values(ack.get("settings"))
        system = ack.get("mentraosSettings", ack.get("augmentosSettings"))
        if isinstance(system, dict):
            self._system = dict(system)

    def apply_update(self, entries: Any) -> None:
        new = _values(entries)
        changes = [
            SettingChange(key, self._values.get(key), value)
            for key, value in new.items()
            if self._values.get(key, _MISSING) != value
        ]
        self._values = new
        if changes:
            for registration in list(self._handlers):
                self._emit(registration, changes)
            for change in changes:
                for registration in list(self._value_handlers.get(change.key, ())):
                    self._emit(registration, change.new_value, change.old_value)

    def apply_system(self, settings: Any) -> None:
        if not isinstance(settings, dict):
            return
        old, self._system = self._system, dict(settings)
        for key in set(old) | set(settings):
            before, after = old.get(key), settings.get(key)
            if before != after:
                for registration in list(self._system_handlers.get(key, ())):
                    self._emit(registration, after, before)
