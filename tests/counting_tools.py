"""Function tools for tests that count their executions in files under $COUNTER_DIR."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _mark(label: str) -> int:
    folder = Path(os.environ["COUNTER_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / label).open("a") as f:
        f.write("x\n")
    return len((folder / label).read_text().splitlines())


def record(label: str) -> str:
    """Count one execution of ``label`` and answer with it."""
    _mark(label)
    return label


def slow_record(label: str, seconds: float) -> str:
    """Count one execution, then take ``seconds``: long enough to be killed in the middle."""
    _mark(label)
    time.sleep(seconds)
    return label


def flaky(label: str, failures: int) -> str:
    """Fail the first ``failures`` executions of ``label``, then succeed."""
    if _mark(label) <= failures:
        raise RuntimeError(f"{label} failed on purpose")
    return label


def counts() -> dict[str, int]:
    folder = Path(os.environ["COUNTER_DIR"])
    if not folder.exists():
        return {}
    return {p.name: len(p.read_text().splitlines()) for p in folder.iterdir()}


def sometimes(label: str, rate: float) -> str:
    """Fail at random with probability ``rate`` (a node that retries), else count and succeed."""
    import random

    if random.random() < rate:
        raise RuntimeError(f"{label} failed on purpose (at random)")
    _mark(label)
    return label
