"""Firing Triggers' schedules: each tick one run, however many gateway replicas fire it.

Nothing is kept between ticks but what the store holds: the run of a tick carries the tick
(``triggered_by``) and an idempotency key naming it, so a second replica creating the same
tick's run gets the first one's, and the last tick fired is the newest run of the trigger, which
survives every gateway stopping (as does the status' ``lastScheduleTime``, once the history
limits erase that run). Missed ticks, ``concurrencyPolicy`` and ``startingDeadlineSeconds`` are a
CronJob's (``spec.schedule.due_tick``).

Each trigger's status and history limits (``trigger_status``) are brought up to date when one of
its ticks fires, when a run of it this replica executed stops, and every ``status_interval``
seconds (runs other replicas executed, or that finished while this one was down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway import trigger_status
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import start_run
from agent_runtime.gateway.trigger_status import (
    ACTIVE,
    CatalogStatus,
    StatusWriter,
    parse_stamp,
    trigger_identity,
)
from agent_runtime.spec import Workflow
from agent_runtime.spec.schedule import due_tick
from agent_runtime.spec.trigger import Schedule, Trigger, input_problems
from agent_runtime.stores import RunNotFound, RunRecord
from agent_runtime.stores.records import TriggeredBy

log = logging.getLogger(__name__)


class Clock(Protocol):
    """What time it is, and waiting: the tests' clock moves only when they move it."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


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
    #: Where triggers' status goes (None: the catalog only, for triggers read from files).
    writer: StatusWriter | None = None
    #: Seconds between refreshes of each trigger's status and history from the store.
    status_interval: float = 30.0
    #: The last tick known fired per trigger: the store is asked only when a later one is due.
    _last: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: When this scheduler first saw each trigger: when one with no runs and no creation time
    #: (a file's) began.
    _seen: dict[tuple[str, str], datetime] = field(default_factory=dict)
    #: What was last logged as keeping each trigger from firing ("" for nothing).
    _reported: dict[tuple[str, str], str] = field(default_factory=dict)
    #: When each trigger's status was last refreshed.
    _refreshed: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    #: Refreshes started by runs stopping, kept until done.
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _stopped: bool = False

    def __post_init__(self) -> None:
        if self.writer is None:
            self.writer = CatalogStatus(self.gateway.catalog)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="trigger-scheduler")

    async def stop(self) -> None:
        self._stopped = True
        for task in [self._task, *self._pending]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

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
        await self._refresh_due(now)
        return fired

    async def refresh(self, trigger: Trigger, *, prune: bool = True) -> dict[str, Any]:
        """Apply the trigger's history limits (``prune``) and write its status if it changed;
        the status (the gateway's fields)."""
        assert self.writer is not None
        trigger = self.gateway.catalog.trigger(trigger.namespace, trigger.name) or trigger
        self._refreshed[(trigger.namespace, trigger.name)] = self.clock.now()
        return await trigger_status.refresh(self.gateway.store, trigger, self.writer, prune=prune)

    async def _refresh_due(self, now: datetime) -> None:
        served = self.gateway.catalog.triggers()
        for gone in set(self._refreshed) - {(t.namespace, t.name) for t in served}:
            del self._refreshed[gone]  # deleted: its gauges go with it
            trigger_status.forget(*gone)
        for trigger in served:
            last = self._refreshed.get((trigger.namespace, trigger.name))
            if last is None or (now - last).total_seconds() >= self.status_interval:
                try:
                    await self.refresh(trigger)
                except AgentRuntimeError as exc:
                    log.warning("trigger %s/%s: status: %s", trigger.namespace, trigger.name, exc)

    def settled(self, run_id: str, run: RunRecord | None = None) -> None:
        """A run this replica executed stopped (``run``: as it settled, if known): if a trigger
        started it, refresh that trigger (its status, and its history once the run finished)."""
        if self._stopped:  # the worker's last runs stopping as the gateway shuts down
            return
        if run is not None and run.triggered_by is None:
            return  # no trigger to refresh, and nothing to read to know it
        task = asyncio.get_running_loop().create_task(self._settled(run_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _settled(self, run_id: str) -> None:
        try:
            run = await self.gateway.store.get_run(run_id)
            by = run.triggered_by
            trigger = self.gateway.catalog.trigger(by.namespace, by.name) if by else None
            if trigger is not None:
                await self.refresh(trigger, prune=run.status.finished)
        except RunNotFound:
            return
        except Exception:  # the next periodic refresh tries again
            log.exception("run %s: its trigger's status not refreshed", run_id)

    async def drain(self) -> None:
        """Until the refreshes started by runs stopping are done (tests)."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

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
        # the newest tick the store, the status (its run erased by the history limits) or this
        # replica knows fired; else when the trigger began
        status = trigger.status.last_schedule_time if trigger.status else None
        known = [t for t in (*ticks, self._last.get(key), parse_stamp(status)) if t is not None]
        since = max(known, default=None) or _created(trigger, self._seen[key])
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
        try:
            await self.refresh(trigger, prune=False)
        except AgentRuntimeError as exc:
            log.warning("trigger %s/%s: status: %s", *key, exc)
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
