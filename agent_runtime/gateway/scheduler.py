"""Firing Triggers' schedules: each tick one run, however many gateway replicas fire it.

Nothing is kept between ticks but what the store holds: the run of a tick carries the tick
(``triggered_by``) and an idempotency key naming it, so a second replica creating the same
tick's run gets the first one's, and the last tick fired is the newest run of the trigger, which
survives every gateway stopping. Missed ticks, ``concurrencyPolicy`` and
``startingDeadlineSeconds`` are a CronJob's (``spec.schedule.due_tick``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import start_run
from agent_runtime.spec import Workflow
from agent_runtime.spec.schedule import due_tick
from agent_runtime.spec.trigger import Schedule, Trigger, input_problems
from agent_runtime.stores import RunRecord, RunStatus
from agent_runtime.stores.records import TriggeredBy

log = logging.getLogger(__name__)

#: A run of a trigger in one of these holds its turn (``Forbid``, ``Replace``).
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED)
#: The group every trigger's identity is in.
TRIGGERS_GROUP = "system:triggers"


class Clock(Protocol):
    """What time it is, and waiting: the tests' clock moves only when they move it."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def trigger_identity(trigger: Trigger) -> Identity:
    """Who a trigger's runs are created by: ``system:trigger:<namespace>:<name>``."""
    return Identity(
        username=f"system:trigger:{trigger.namespace}:{trigger.name}", groups=(TRIGGERS_GROUP,)
    )


def tick_key(trigger: Trigger, tick: datetime) -> str:
    """The idempotency key of a tick's run: one run per tick across replicas."""
    return f"trigger:{trigger.namespace}/{trigger.name}@{tick.astimezone(UTC).isoformat()}"


@dataclass
class Scheduler:
    """Fires the catalog's Triggers through the gateway's one start path."""

    gateway: Gateway
    clock: Clock = field(default_factory=SystemClock)
    #: Seconds between looks at the clock (a tick fires at most this late).
    interval: float = 1.0
    #: The last tick known fired per trigger: the store is asked only when a later one is due.
    _last: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: When this scheduler first saw each trigger: when one with no runs and no creation time
    #: (a file's) began.
    _seen: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: What was last logged as keeping each trigger from firing ("" for nothing).
    _reported: dict[tuple[str, str], str] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="trigger-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.fire_due()
            except Exception:  # one bad pass must not stop every schedule
                log.exception("firing schedules failed; trying again")
            await self.clock.sleep(self.interval)

    async def fire_due(self) -> list[RunRecord]:
        """Start the run of every trigger whose tick is due now; the runs started."""
        now = self.clock.now()
        fired = []
        for trigger in self.gateway.catalog.triggers():
            # suspended or not, a trigger exists from here on (its ticks from now are missed)
            self._seen.setdefault((trigger.namespace, trigger.name), now)
            schedule = trigger.spec.schedule
            workflow = self._workflow(trigger)
            if schedule is None or trigger.spec.suspend or workflow is None:
                continue
            try:
                run = await self._fire(trigger, schedule, workflow, now)
            except AgentRuntimeError as exc:
                log.warning("trigger %s/%s: %s", trigger.namespace, trigger.name, exc)
                continue
            if run is not None:
                fired.append(run)
        return fired

    async def _fire(
        self, trigger: Trigger, schedule: Schedule, workflow: Workflow, now: datetime
    ) -> RunRecord | None:
        key = (trigger.namespace, trigger.name)
        since = self._last.get(key)
        deadline = schedule.starting_deadline_seconds
        if since is not None and due_tick(schedule.cron, since=since, now=now) is None:
            return None
        runs = await self._runs(trigger)
        ticks = [r.triggered_by.tick for r in runs if r.triggered_by and r.triggered_by.tick]
        since = (
            max(ticks, default=None) or self._last.get(key) or _created(trigger, self._seen[key])
        )
        self._last[key] = since
        tick = due_tick(schedule.cron, since=since, now=now, deadline=deadline)
        if tick is None:
            return None
        active = [r for r in runs if r.status in ACTIVE]
        if active and schedule.concurrency_policy == "Forbid":
            log.info("trigger %s/%s: tick %s skipped, a run is active", *key, tick.isoformat())
            return None
        identity = trigger_identity(trigger)
        if schedule.concurrency_policy == "Replace":
            for run in active:  # a run of this very tick (another replica's) stays
                if run.triggered_by and run.triggered_by.tick and run.triggered_by.tick < tick:
                    await self._cancel(run, identity)
        run = await start_run(
            self.gateway,
            identity,
            workflow,
            trigger.spec.input,
            idempotency_key=tick_key(trigger, tick),
            triggered_by=TriggeredBy(namespace=trigger.namespace, name=trigger.name, tick=tick),
        )
        self._last[key] = tick
        return run

    async def _cancel(self, run: RunRecord, identity: Identity) -> None:
        """Cancel as the Runs API does; one another replica cancelled, or that ended, is done."""
        try:
            await self.gateway.engine.cancel(run.id, by=actor(identity))
        except AgentRuntimeError as exc:
            if exc.code != "conflict":
                raise

    def _workflow(self, trigger: Trigger) -> Workflow | None:
        """The trigger's Workflow, when its runs can start; else None, and why is logged once
        (when the trigger is read, not at its first tick)."""
        key = (trigger.namespace, trigger.name)
        entry = self.gateway.catalog.get(trigger.namespace, trigger.spec.workflow)
        if entry is None or entry.workflow is None or not entry.ready:
            problem = f"spec.workflow: {trigger.spec.workflow!r} is not a ready Workflow here"
        else:
            problem = "; ".join(map(str, input_problems(trigger, entry.workflow)))
        if problem and self._reported.get(key) != problem:
            log.warning("trigger %s/%s: %s; it fires nothing", *key, problem)
        self._reported[key] = problem
        return None if problem or entry is None else entry.workflow

    async def _runs(self, trigger: Trigger) -> list[RunRecord]:
        """The trigger's runs that decide the next tick: the newest, and every active one."""
        store, identity = self.gateway.store, trigger_identity(trigger)
        found: dict[str, RunRecord] = {}
        for status in (None, *ACTIVE):
            cursor = None
            while True:
                page = await store.list_runs(
                    workflow=trigger.spec.workflow,
                    status=status,
                    namespaces=[trigger.namespace],
                    created_by=identity.username,
                    limit=50,
                    cursor=cursor,
                )
                found.update((r.id, r) for r in page.items)
                cursor = page.next_cursor
                if cursor is None or (status is None and page.items):
                    break
        return list(found.values())


def _created(trigger: Trigger, seen: datetime) -> datetime:
    """When a trigger with no runs began: its creation time in the cluster, else when this
    gateway first saw it (a file's trigger has none)."""
    stamp = (trigger.metadata.model_extra or {}).get("creationTimestamp")
    if isinstance(stamp, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return seen
