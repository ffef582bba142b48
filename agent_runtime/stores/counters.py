"""Counters replicas share through the store: rate-limit tokens (GCRA) and namespace spend days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agent_runtime.stores.records import utcnow

#: Spend counters are kept this long after their day (a month and the one before it, and more),
#: then removed (SQL stores on a later write, DynamoDB by its TTL).
SPEND_KEPT = timedelta(days=70)


def spend_day(at: datetime) -> str:
    """The UTC day of ``at`` (naive means UTC) as ``YYYY-MM-DD``: a day's spend counter."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d")


def spend_cutoff(at: datetime) -> str:
    """The first day whose spend is still kept when writing at ``at`` (never later than what
    the clock says, so a writer whose ``at`` runs ahead removes nothing current)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return spend_day(min(aware, utcnow()) - SPEND_KEPT)


def gcra(tat: float | None, now: float, *, rate: float, burst: int) -> tuple[float | None, float]:
    """The generic cell rate algorithm: (the new theoretical arrival time, or None when refused;
    seconds to wait). One number per key, so a store keeps it with one conditional write."""
    interval = 1.0 / rate
    start = max(tat or now, now)
    wait = start - now - (burst - 1) * interval
    if wait > 1e-9:
        return None, wait
    return start + interval, 0.0
