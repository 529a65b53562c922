"""`iso_timestamp` (cached per second and per millisecond) gives exactly the text formatted
from scratch, `format_iso`, for any time, in any order of calls, including the values that
round up into the next millisecond or second."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from glasscloud.protocol.jsonio import format_iso, iso_timestamp

NOW = 1_764_000_000.0  # late 2025
YEARS = 10 * 365 * 86400.0

times = st.floats(min_value=-NOW, max_value=NOW + YEARS, allow_nan=False)  # before 1970 too


@given(st.lists(times, min_size=1, max_size=20))
def test_any_sequence_of_times_matches_the_uncached_text(values):
    for value in values:
        assert iso_timestamp(value) == format_iso(value), value


def test_boundaries_of_milliseconds_and_seconds():
    rng = random.Random(7)
    edges = [0.0, 0.0004995, 0.0005, 0.0009995, 0.999, 0.9994999, 0.9995, 0.9999994, 0.9999995]
    values = []
    for _ in range(3000):
        second = NOW + rng.randrange(0, 100_000)
        values.append(second + rng.choice(edges))
        values.append(second + rng.random())
        values.append(second + 1 - 1e-7 * rng.random())
    for value in values + sorted(values):
        assert iso_timestamp(value) == format_iso(value), repr(value)


def test_consecutive_events_in_one_second_share_the_head_but_not_the_millis():
    assert iso_timestamp(NOW + 0.001) == "2025-11-24T16:00:00.001Z"
    assert iso_timestamp(NOW + 0.002) == "2025-11-24T16:00:00.002Z"
    assert iso_timestamp(NOW + 1.0) == "2025-11-24T16:00:01.000Z"
