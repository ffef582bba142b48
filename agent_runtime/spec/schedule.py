"""When a schedule fires: cron ticks in a time zone, with CronJob's rules for missed ones.

Pure functions over datetimes (no clock, no store), so the gateway's scheduler and the tests
ask the same questions. Cron expressions are parsed by ``cronsim`` (five fields, Debian cron's
behaviour across DST changes: a tick in the hour a spring change skips fires when the hour
resumes; a fixed-hour tick in the hour an autumn change repeats fires once), plus the
``@hourly``-style macros Kubernetes CronJobs accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

#: CronJob's macros, as the five-field expressions they stand for.
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_problem(expression: str) -> str | None:
    """Why an expression is not a schedule (None: it is one)."""
    try:
        CronSim(MACROS.get(expression.strip(), expression), datetime(2000, 1, 1))
    except CronSimError as exc:
        macros = ", ".join(MACROS)
        return f"invalid cron expression {expression!r}: {exc} (five fields, or one of {macros})"
    return None


def zone_problem(name: str) -> str | None:
    """Why a name is not an IANA time zone (None: it is one)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r}: expected an IANA name such as Europe/Berlin or UTC"
    return None


@dataclass(frozen=True)
class Cron:
    """A checked cron expression in a time zone."""

    expression: str
    zone: str = "UTC"

    def _sim(self, start: datetime, *, reverse: bool = False) -> CronSim:
        local = start.astimezone(ZoneInfo(self.zone))
        return CronSim(MACROS.get(self.expression.strip(), self.expression), local, reverse=reverse)

    def next_after(self, moment: datetime) -> datetime:
        """The first tick strictly after ``moment``, in UTC."""
        return next(self._sim(moment)).astimezone(UTC)

    def latest_at(self, moment: datetime) -> datetime | None:
        """The last tick at or before ``moment``, in UTC (None: the expression never matched)."""
        try:
            return next(self._sim(moment + timedelta(microseconds=1), reverse=True)).astimezone(UTC)
        except StopIteration:
            return None


def due_tick(
    cron: Cron, *, since: datetime, now: datetime, deadline: float | None = None
) -> datetime | None:
    """The tick to fire at ``now``, as a CronJob decides: the most recent tick after ``since``
    (the last tick fired, or when the schedule was first seen) and not after ``now``; older
    missed ticks are dropped, never caught up one by one. With a starting ``deadline``
    (seconds), a tick later than that is missed for good.
    """
    tick = cron.latest_at(now)
    if tick is None or tick <= since:
        return None
    if deadline is not None and now - tick > timedelta(seconds=deadline):
        return None
    return tick
