"""Durations as operators type them: `30s`, `15m`, `12h`, `7d`, `2w` (one number, one unit)."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


class DurationError(ValueError):
    """Not a duration; the message says what one looks like."""


def parse_duration(text: str) -> float:
    """Seconds in `text`, e.g. parse_duration("15m") == 900. Raises DurationError."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or float(match.group(1)) <= 0:
        raise DurationError(
            f"'{text}' is not a duration: use a positive number and a unit s, m, h, d or w "
            "(e.g. 30s, 15m, 7d)"
        )
    return float(match.group(1)) * _UNITS[match.group(2)]
