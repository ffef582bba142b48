"""Which status a run may move to from which, and what a move sets; every backend uses these so
that they agree on what a transition means."""

from __future__ import annotations

from typing import Any

from agent_runtime.stores.errors import InvalidTransition
from agent_runtime.stores.records import RunRecord, RunStatus, utcnow

#: For each status, the statuses a run may move to it from.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # back to the queue: waiting for agents, answered at a human node, or retried after a failure
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.FAILED}
    ),
    RunStatus.INTERRUPTED: frozenset({RunStatus.RUNNING}),
    RunStatus.SUCCEEDED: frozenset({RunStatus.RUNNING}),
    RunStatus.FAILED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING}),
    RunStatus.CANCELLED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED}),
}


def check_transition(run: RunRecord, status: RunStatus) -> None:
    if run.status not in TRANSITIONS[status]:
        raise InvalidTransition(run.id, run.status, status)


def apply_transition(run: RunRecord, status: RunStatus, changes: dict[str, Any]) -> RunRecord:
    """The record after a checked transition: timestamps, no lease once finished, and no
    capability waited for once out of the queue.

    Shared by every backend so that they agree on what a transition means.
    """
    check_transition(run, status)
    now = utcnow()
    extra: dict[str, Any] = {"status": status, "updated_at": now}
    if status == RunStatus.RUNNING and run.started_at is None:
        extra["started_at"] = now
    if status != RunStatus.QUEUED:
        extra["waiting_for"] = None  # a run waits for a capability's agents only while queued
    if status.finished:
        extra.update(finished_at=now, lease_owner=None, lease_expires_at=None)
    else:
        extra["finished_at"] = None  # a failed run that goes on is not finished any more
    return run.model_copy(update={**extra, **changes})
