"""Counters the core keeps (errors, drops, deliveries); the shell exports them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class Metrics:
    """Labelled counters: `inc("app_errors", code="INVALID_FIELD")`."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        # Durations the core measures (`observe`), handed to whoever the shell registered
        # (a Prometheus histogram); nobody registered: dropped. Never on the per-frame path.
        self._observers: dict[str, Callable[[float], None]] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        # On the per-frame path most counters have no labels: skip the sort (profiled).
        key = (name, tuple(sorted(labels.items())) if labels else ())
        counts = self._counts
        counts[key] = counts.get(key, 0) + amount

    def on_observe(self, name: str, observer: Callable[[float], None]) -> None:
        self._observers[name] = observer

    def observe(self, name: str, value: float) -> None:
        """One measured duration (seconds), e.g. `observe("app_start_seconds", 0.8)`."""
        if (observer := self._observers.get(name)) is not None:
            observer(value)

    def get(self, name: str, **labels: str) -> int:
        return self._counts[(name, tuple(sorted(labels.items())))]

    def total(self, name: str) -> int:
        return sum(v for (n, _), v in self._counts.items() if n == name)

    def items(self) -> list[tuple[str, dict[str, str], int]]:
        return [(n, dict(labels), v) for (n, labels), v in sorted(self._counts.items())]
