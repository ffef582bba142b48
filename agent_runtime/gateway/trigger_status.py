"""A Trigger's status as a CronJob's, and its run history limits, read from the store alone.

``lastScheduleTime`` (the newest tick fired), ``active`` (its runs queued, running or waiting at
a human node) and ``lastSuccessfulTime`` (when its newest succeeded run finished) are computed
from the runs the trigger created, so every gateway replica computes the same values and a
replica writes only when they differ from the status it last read: many replicas never fight
over it (merge patches of the same values). A time never goes back: a run erased by the history
limits leaves ``lastScheduleTime`` where it was, which is also what keeps its tick from firing
again after every gateway restarts (``Scheduler``).

History limits are CronJob's ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``: past
them, the oldest finished runs of the trigger are erased from the store (``delete_run``): only
runs it created, never an active one. A cancelled run (``Replace``, or by hand) counts as failed.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from agent_runtime.auth import Identity
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.kube import KubeClient, KubeError
from agent_runtime.spec.common import GROUP_VERSION
from agent_runtime.spec.trigger import Trigger
from agent_runtime.stores import RunRecord, RunStatus, RunStore
from agent_runtime.telemetry.metrics import TriggerMetrics

log = logging.getLogger(__name__)

#: A run of a trigger in one of these holds its turn (``Forbid``, ``Replace``) and is ``active``.
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED)
#: The group every trigger's identity is in.
TRIGGERS_GROUP = "system:triggers"
#: The status fields the gateway owns (the operator owns ``conditions``/``observedGeneration``).
OWNED = ("lastScheduleTime", "lastSuccessfulTime", "active")


def trigger_identity(trigger: Trigger) -> Identity:
    """Who a trigger's runs are created by: ``system:trigger:<namespace>:<name>``."""
    return Identity(
        username=f"system:trigger:{trigger.namespace}:{trigger.name}", groups=(TRIGGERS_GROUP,)
    )


def stamp(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, as Kubernetes writes times (``2026-05-01T07:00:00Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str | None) -> datetime | None:
    """A status time back as a datetime (None: none, or not a time)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def _newest(stamps: list[str | None]) -> str | None:
    known = [(t, s) for s in stamps if s is not None and (t := parse_stamp(s)) is not None]
    return max(known)[1] if known else None


async def runs_of(
    store: RunStore,
    trigger: Trigger,
    *,
    status: RunStatus | None = None,
    enough: int | None = None,
) -> list[RunRecord]:
    """The runs the trigger created (newest first), with ``status``; with ``enough``, once at
    least that many are found (a page filtered by creator may hold none while more follow)."""
    found: list[RunRecord] = []
    cursor = None
    while True:
        page = await store.list_runs(
            status=status,
            namespaces=[trigger.namespace],
            created_by=trigger_identity(trigger).username,
            limit=100,
            cursor=cursor,
        )
        found += [
            r
            for r in page.items
            if r.triggered_by is not None and r.triggered_by.name == trigger.name
        ]
        cursor = page.next_cursor
        if cursor is None or (enough is not None and len(found) >= enough):
            return found


async def observed(store: RunStore, trigger: Trigger) -> dict[str, Any]:
    """The gateway's part of the trigger's status, as the store has it now."""
    known = trigger.status
    newest = await runs_of(store, trigger, enough=1)
    active = {r.id: r for status in ACTIVE for r in await runs_of(store, trigger, status=status)}
    succeeded = await runs_of(store, trigger, status=RunStatus.SUCCEEDED, enough=1)
    ticks = [stamp(r.triggered_by.tick) for r in newest if r.triggered_by and r.triggered_by.tick]
    finished = [stamp(r.finished_at) for r in succeeded if r.finished_at is not None]
    oldest_first = sorted(active.values(), key=lambda r: (r.created_at, r.id))
    return {
        "lastScheduleTime": _newest([*ticks, known.last_schedule_time if known else None]),
        "lastSuccessfulTime": _newest([*finished, known.last_successful_time if known else None]),
        "active": [{"runId": r.id} for r in oldest_first],
    }


def current(trigger: Trigger) -> dict[str, Any]:
    """The gateway's part of the status the trigger carries now (as last read or written)."""
    status = trigger.status
    if status is None:
        return {"lastScheduleTime": None, "lastSuccessfulTime": None, "active": []}
    return {
        "lastScheduleTime": status.last_schedule_time,
        "lastSuccessfulTime": status.last_successful_time,
        "active": [{"runId": a.run_id} for a in status.active],
    }


async def prune_history(store: RunStore, trigger: Trigger) -> list[str]:
    """Erase the trigger's finished runs beyond its history limits, oldest first; their ids."""
    schedule = trigger.spec.schedule
    if schedule is None:
        return []
    limits = (
        ((RunStatus.SUCCEEDED,), schedule.successful_runs_history_limit),
        ((RunStatus.FAILED, RunStatus.CANCELLED), schedule.failed_runs_history_limit),
    )
    erased = []
    for statuses, limit in limits:
        runs = [r for status in statuses for r in await runs_of(store, trigger, status=status)]
        runs.sort(key=lambda r: (r.finished_at or r.created_at, r.id), reverse=True)
        for run in runs[limit:]:
            if await store.delete_run(run.id):  # False: another replica erased it, or retried
                erased.append(run.id)
    if erased:
        log.info(
            "trigger %s/%s: %d finished run(s) past its history limits erased",
            trigger.namespace,
            trigger.name,
            len(erased),
        )
    return erased


class StatusWriter(Protocol):
    """Where a trigger's status goes: the cluster's status subresource, or only the catalog."""

    async def write(self, trigger: Trigger, status: dict[str, Any]) -> None: ...


class CatalogStatus:
    """Triggers read from files: their status lives in the catalog (``GET /v1/triggers``)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    async def write(self, trigger: Trigger, status: dict[str, Any]) -> None:
        self.catalog.set_trigger_status(trigger.namespace, trigger.name, status)


class ClusterStatus(CatalogStatus):
    """Triggers read from the cluster: a merge patch of the status subresource (fields the
    operator writes are left alone), then the catalog until the watch brings the object back."""

    def __init__(self, catalog: Catalog, client: KubeClient) -> None:
        super().__init__(catalog)
        self.client = client

    async def write(self, trigger: Trigger, status: dict[str, Any]) -> None:
        if (trigger.metadata.model_extra or {}).get("uid") is None:
            await super().write(trigger, status)  # a file's trigger served beside the cluster's
            return
        try:
            patched = await self.client.patch_status(
                GROUP_VERSION, "Trigger", trigger.namespace, trigger.name, status
            )
        except KubeError as exc:
            log.warning("trigger %s/%s: status not written: %s", *_key(trigger), exc)
            return
        if patched is not None:
            await super().write(trigger, status)


def _key(trigger: Trigger) -> tuple[str, str]:
    return trigger.namespace, trigger.name


def forget(namespace: str, name: str) -> None:
    """A trigger no longer served: its gauges' series go."""
    metrics = TriggerMetrics.for_registry()
    for gauge in (metrics.active, metrics.last_schedule):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


async def refresh(
    store: RunStore, trigger: Trigger, writer: StatusWriter, *, prune: bool = False
) -> dict[str, Any]:
    """Write the status if it changed, read before the history limits (with ``prune``) erase
    runs, so a run erased at once (a limit of 0) still leaves its times; the status."""
    status = await observed(store, trigger)
    if prune:
        await prune_history(store, trigger)
    metrics = TriggerMetrics.for_registry()
    metrics.active.labels(trigger.namespace, trigger.name).set(len(status["active"]))
    if (last := parse_stamp(status["lastScheduleTime"])) is not None:
        metrics.last_schedule.labels(trigger.namespace, trigger.name).set(last.timestamp())
    if status != current(trigger):
        await writer.write(trigger, status)
    return status
