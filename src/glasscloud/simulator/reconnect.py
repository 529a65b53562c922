"""When the simulated glasses reconnect, and how long they wait: like the phone, which keeps
its user's session alive across a server restart or a dropped network.

Pure: a close code (and the `connection_error` code the cloud sent before it) or a refused
handshake's HTTP status becomes a `Verdict`; `Backoff` turns an attempt number into a delay.
The client (`simulator.client`) carries them out, so every rule here is tested without a
socket or a clock.

Reconnect after closes that say "come back": 1012 (server restart or drain), 1001 (going
away), 1006 (abnormal: no close frame, e.g. the server was killed or the network dropped),
1011 (server error), 1013 (try again later), 1014 (bad gateway), after a refused or timed-out
TCP connection and after an HTTP 5xx at the upgrade (a proxy whose backend is restarting).
Everything else is final, shown, and ends the simulator: above all a replacement (1000 after a
`SESSION_REPLACED` connection_error: another client signed in as this user, and taking the
session back would start a tug of war) and an authentication refusal (1008, or HTTP 401/403
at the upgrade), which a retry would only repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

RECONNECT_CLOSE_CODES: dict[int, str] = {
    1001: "server going away",
    1006: "connection lost",
    1011: "server error",
    1012: "server restarting",
    1013: "server busy",
    1014: "bad gateway",
}
ABNORMAL_CLOSURE = 1006
SESSION_REPLACED = "SESSION_REPLACED"

# Beyond this the delay is the cap anyway; it keeps `factor ** attempt` a finite float.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do after a connection ended or an attempt failed, and why (for the status
    line)."""

    reconnect: bool
    reason: str


def after_close(code: int | None, error_code: str | None = None) -> Verdict:
    """The verdict on a socket that closed with `code` (None: no code seen, as 1006) after
    the cloud sent a `connection_error` with `error_code`, if it did."""
    code = ABNORMAL_CLOSURE if code is None else code
    if error_code == SESSION_REPLACED:
        return Verdict(False, f"replaced by a newer connection for this user (code {code})")
    if code in RECONNECT_CLOSE_CODES:
        return Verdict(True, f"{RECONNECT_CLOSE_CODES[code]} (code {code})")
    if code == 1008:
        refused = f"refused: {error_code}" if error_code else "refused by the server"
        return Verdict(False, f"{refused} (code 1008)")
    return Verdict(False, f"closed by the server (code {code})")


def after_refused_upgrade(status: int) -> Verdict:
    """The verdict on an upgrade the server answered with HTTP `status` instead of 101."""
    if status >= 500:
        return Verdict(True, f"server unavailable (HTTP {status})")
    if status in (401, 403):
        return Verdict(False, f"the server refused the token (HTTP {status})")
    return Verdict(False, f"the server refused the connection (HTTP {status})")


def after_unreachable(detail: str) -> Verdict:
    """The verdict on an attempt that never reached an HTTP answer (refused, timed out)."""
    return Verdict(True, f"cannot connect: {detail}")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff: `first`, `first * factor`, ... capped at `cap` seconds, for at most
    `max_attempts` attempts in a row (None: until the user quits). The attempt count starts
    again at 0 once a connection was accepted (`connection_ack`)."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 10.0
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float | None:
        """Seconds to wait before attempt `attempt` (0-based); None once they are used up."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return None
        return min(self.cap, self.first * self.factor ** min(attempt, _MAX_EXPONENT))


# 0.5 s, 1 s, 2 s, ... 10 s, until the user quits.
PHONE_BACKOFF = Backoff()
