"""Who receives what, for one user session: App -> subscriptions, plus a reverse index from
routing key to the Apps (and the exact strings they subscribed with), so routing an event
costs a dict lookup, not a scan of every App (the reference's "n²" problem)."""

from __future__ import annotations

from collections.abc import Iterable

from glasscloud.protocol.streams import MEDIA_BASES, Subscription


class SubscriptionIndex:
    def __init__(self) -> None:
        self._by_app: dict[str, tuple[Subscription, ...]] = {}
        self._by_key: dict[str, list[tuple[str, str]]] = {}
        self._wildcard_apps: set[str] = set()

    def replace(self, package_name: str, subscriptions: Iterable[Subscription]) -> bool:
        """Set an App's full list (the protocol sends the whole set each time). Duplicates
        (same raw string) collapse. Returns True if the set changed."""
        unique: dict[str, Subscription] = {}
        for sub in subscriptions:
            unique.setdefault(sub.raw, sub)
        new = tuple(unique.values())
        old = self._by_app.get(package_name, ())
        if {(s.raw, s.rate) for s in old} == {(s.raw, s.rate) for s in new}:
            return False
        self._drop(package_name)
        if new:
            self._by_app[package_name] = new
        for sub in new:
            if sub.is_wildcard:
                self._wildcard_apps.add(package_name)
            else:
                self._by_key.setdefault(sub.key, []).append((package_name, sub.raw))
        return True

    def remove(self, package_name: str) -> bool:
        if package_name not in self._by_app:
            return False
        self._drop(package_name)
        return True

    def clear(self) -> None:
        self._by_app.clear()
        self._by_key.clear()
        self._wildcard_apps.clear()

    def _drop(self, package_name: str) -> None:
        for sub in self._by_app.pop(package_name, ()):
            entries = self._by_key.get(sub.key)
            if entries is None:
                continue
            entries[:] = [e for e in entries if e[0] != package_name]
            if not entries:
                del self._by_key[sub.key]
        self._wildcard_apps.discard(package_name)

    def recipients(self, key: str) -> list[tuple[str, str]]:
        """(package, exact subscription string) for every App subscribed to `key` by name."""
        return self._by_key.get(key, [])

    @property
    def wildcard_apps(self) -> set[str]:
        return self._wildcard_apps

    def of(self, package_name: str) -> tuple[Subscription, ...]:
        return self._by_app.get(package_name, ())

    def as_map(self) -> dict[str, list[str]]:
        return {pkg: [s.raw for s in subs] for pkg, subs in self._by_app.items()}

    def media_keys(self) -> set[str]:
        """Routing keys that need the microphone (audio, transcription, translation)."""
        return {key for key in self._by_key if key.partition(":")[0] in MEDIA_BASES}

    def language_streams(self) -> list[str]:
        return sorted(k for k in self._by_key if k.startswith(("transcription:", "translation:")))
