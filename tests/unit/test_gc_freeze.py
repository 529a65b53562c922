"""`glasscloud serve` freezes what exists after start-up, so full collections only walk the
objects sessions create (checked in a child process: freezing is for the whole process; the
SIGTERM test in tests/integration/test_liveness.py sees `serve` log it)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
import glasscloud.server.run as run
frozen = run.freeze_startup_objects()
print(frozen, len(gc.get_objects()), *gc.get_threshold())
"""


def test_startup_objects_are_frozen_out_of_the_collector_and_young_passes_are_larger():
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    frozen, still_tracked = int(out[0]), int(out[1])
    # a storm's sessions are not walked by a full collection each time the heap grows 25 %
    assert tuple(int(x) for x in out[2:]) == (20_000, 10, 10)
    assert frozen > 10_000  # the imported server stack
    assert still_tracked < 100
