"""Ages such as ``30d`` or ``12h``: how long finished runs are kept (``runs prune``, TTLs)."""

from __future__ import annotations

import re
from datetime import timedelta

_AGE = re.compile(r"^(?:\d+(?:\.\d+)?(?:w|d|h|m|s))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(w|d|h|m|s)")
_SECONDS = {"w": 604_800.0, "d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``1d12h``, ``90m``, ``2w`` (no bare numbers: units are never guessed)."""
    cleaned = text.strip().lower()
    if not _AGE.match(cleaned):
        raise ValueError(f"invalid age {text!r}: expected a number and a unit, such as 30d or 12h")
    return timedelta(seconds=sum(float(n) * _SECONDS[u] for n, u in _PART.findall(cleaned)))
