"""Token buckets for message-rate limits (per connection and per user). Pure: the caller
passes the time."""

from __future__ import annotations


class TokenBucket:
    """`rate` tokens per second, holding at most `burst`. `take()` spends one if it can."""

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now
        if self._tokens >= amount:
            self._tokens -= amount
            return True
        return False
