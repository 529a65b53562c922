"""Opening a session reads the user's record and every App's stored settings in one Store
operation (store/session_reads.py); each App's first bind takes its values from there
(server/session_settings.py) instead of reading again."""

from __future__ import annotations

from pathlib import Path

from glasscloud.core.clock import ManualClock
from glasscloud.core.context import SessionServices
from glasscloud.core.session import UserSession
from glasscloud.core.timings import Timings
from glasscloud.server.session_settings import PrefetchedSettings
from glasscloud.store.store import Store
from tests.support.recorders import RecordingEffects

USER = "ada@example.com"


async def test_open_user_is_get_user_plus_every_apps_stored_settings(tmp_path: Path):
    async with await Store.open(f"sqlite:///{tmp_path}/s.db") as store:
        assert await store.open_user(USER) == (await store.get_user(USER), {})
        await store.set_user_settings(USER, {"brightness": 3})
        await store.set_running_apps(USER, ["com.b", "com.a"])
        await store.set_resume_state(USER, {"com.a": {"subscriptions": ["button_press"]}})
        await store.set_app_settings(USER, "com.a", {"lang": "de"})
        await store.set_app_settings(USER, "com.c", {"size": 2})  # configured, not running
        record, settings = await store.open_user(USER)
        assert record == await store.get_user(USER)
        assert record.running_apps == ("com.a", "com.b")
        assert settings == {"com.a": {"lang": "de"}, "com.c": {"size": 2}}
        for package in ("com.a", "com.b", "com.c"):
            assert settings.get(package, {}) == await store.get_app_settings(USER, package)


def session(clock: ManualClock) -> UserSession:
    return UserSession(USER, SessionServices(clock, RecordingEffects(), Timings()))


def test_each_app_takes_its_prefetched_values_once():
    clock = ManualClock()
    prefetched = PrefetchedSettings(ttl=10.0, clock=clock.now)
    s = session(clock)
    assert prefetched.take(s, "com.a") is None  # never read
    prefetched.remember(s, {"com.a": {"lang": "de"}}, prefetched.generation)
    assert prefetched.take(s, "com.a") == {"lang": "de"}
    assert prefetched.take(s, "com.a") is None  # a reconnect reads the store
    assert prefetched.take(s, "com.b") == {}  # read: nothing stored for it


def test_prefetched_values_expire():
    clock = ManualClock()
    prefetched = PrefetchedSettings(ttl=10.0, clock=clock.now)
    s = session(clock)
    prefetched.remember(s, {"com.a": {"lang": "de"}}, prefetched.generation)
    clock.advance(10.0)
    assert prefetched.take(s, "com.a") is None


def test_a_change_drops_the_prefetched_values_and_a_read_older_than_a_change_is_not_kept():
    clock = ManualClock()
    prefetched = PrefetchedSettings(clock=clock.now)
    s = session(clock)
    prefetched.remember(s, {"com.a": {"lang": "de"}}, prefetched.generation)
    prefetched.changed(s, "com.a")
    assert prefetched.take(s, "com.a") is None
    assert prefetched.take(s, "com.b") == {}
    other = session(clock)
    before = prefetched.generation  # a read starts ...
    prefetched.changed(None, "com.a")  # ... the settings change (no session yet) ...
    prefetched.remember(other, {"com.a": {"lang": "de"}}, before)  # ... the read ends
    assert prefetched.take(other, "com.a") is None
