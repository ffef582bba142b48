"""A function tool that holds its node until the test opens a gate (creates a file).

A sleep of fixed length races the test's own steps (each CLI call takes a second or more, longer
on a busy machine); a gate keeps the run in the middle of the node exactly as long as the test
needs, on a machine of any speed.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.counting_tools import record

#: Seconds a shut gate holds the node before it fails: only so that a process whose test died
#: without opening the gate or killing it does not wait forever; no test should come near it.
GIVE_UP_AFTER = 600.0


def gated_record(label: str, gate: str) -> str:
    """Count one execution of ``label``, then wait until the file ``gate`` exists."""
    record(label)
    deadline = time.monotonic() + GIVE_UP_AFTER
    while not Path(gate).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the gate {gate} stayed shut for {GIVE_UP_AFTER:.0f}s")
        time.sleep(0.02)
    return label
