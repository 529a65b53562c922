"""When to reconnect after the App socket closes, and how long to wait: the official SDK's
policy (docs/python-sdk.md), with the delays injectable for tests."""

from __future__ import annotations

from dataclasses import dataclass

from glasscloud.protocol.close_codes import CloseCode

# Closes after which the session is over: normal, going away, policy (a refused init).
FINAL_CODES = frozenset({CloseCode.NORMAL, CloseCode.GOING_AWAY, CloseCode.POLICY})
FINAL_REASONS = ("App stopped", "User session ended")


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Up to `max_attempts` reconnects, waiting `base_delay * 2**n` before attempt n."""

    max_attempts: int = 3
    base_delay: float = 1.0

    def should_reconnect(self, code: int, reason: str) -> bool:
        if code in FINAL_CODES:
            return False
        return not any(final in reason for final in FINAL_REASONS)

    def delay(self, attempt: int) -> float:
        """The wait before attempt `attempt` (0-based)."""
        return self.base_delay * (2**attempt)
