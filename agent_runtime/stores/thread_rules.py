"""What a thread is allowed to do, shared by every backend so that they agree: which run may
start on it (one at a time), what a run's move does to it, what a search matches.

A run on a thread holds it from its creation (``claim``) until it finishes: its record names it
``active_run_id`` and its status is ``busy``, or ``interrupted`` while the run waits at a human
node (it still holds the thread: the answer goes on with that run). The claim is the store's
conditional write of the thread from "no active run" to "this run", in the transaction that
creates the run, so two runs never both start on one thread.

A run created to wait its turn (``enqueue``, the multitask strategies but ``reject``) on a held
thread joins the thread's ``queue`` instead, in the same write, and is created ``PARKED``: its
lease "expires" never, so no worker's claim takes it. When the holder lets the thread go (it
finishes, fails or is cancelled), the same transaction hands the thread to the first of the
queue and unparks that run (``promoted``, ``unparked``): runs on a thread start one after
another, in the order they came, whichever replica claims them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import PydanticSerializationError, to_jsonable_python

from agent_runtime.stores.errors import InvalidThreadUpdate, ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import (
    RunRecord,
    RunStatus,
    ThreadRecord,
    ThreadStatus,
    utcnow,
)

#: The keyword of ``transition`` carrying the state a run's thread keeps (its values when the run
#: finishes or stops interrupted); stores take it out of the run's changes.
THREAD_VALUES = "thread_values"
#: The lease end of a run waiting its turn on a thread: no claim takes it until it is unparked.
PARKED = datetime(9999, 1, 1, tzinfo=UTC)
#: What a thread becomes when its run finishes with each status.
_SETTLED = {
    RunStatus.SUCCEEDED: ThreadStatus.IDLE,
    RunStatus.CANCELLED: ThreadStatus.IDLE,
    RunStatus.FAILED: ThreadStatus.ERROR,
    RunStatus.INTERRUPTED: ThreadStatus.INTERRUPTED,
}


@dataclass(frozen=True)
class ThreadQuery:
    """A thread search: every given filter holds; newest updated first, ``limit`` from ``offset``.

    ``metadata``: each of its keys is in the thread's metadata with an equal value (LangGraph's
    search). ``namespaces``: None, every namespace; else these (not empty).
    """

    namespaces: Sequence[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    status: ThreadStatus | None = None
    created_by: str | None = None
    limit: int = 10
    offset: int = 0


def matches(thread: ThreadRecord, query: ThreadQuery) -> bool:
    """Whether a thread is one the query asks for (stores that filter what they read)."""
    if query.namespaces is not None and thread.namespace not in query.namespaces:
        return False
    if query.status is not None and thread.status != query.status:
        return False
    creator = thread.created_by.username if thread.created_by else None
    if query.created_by is not None and creator != query.created_by:
        return False
    return all(
        key in thread.metadata and thread.metadata[key] == value
        for key, value in query.metadata.items()
    )


def claim(
    thread: ThreadRecord, run: RunRecord, *, enqueue: bool = False
) -> tuple[ThreadRecord, RunRecord]:
    """The thread held by a new run (or queuing it, ``enqueue``, while another holds it) and the
    run as it is created; raises when the run may not start on it."""
    if thread.namespace != run.namespace:
        raise ThreadNotFound(thread.id)  # threads are found within a namespace, like runs
    if thread.active_run_id is not None and not enqueue:
        doing = "waits at a human node" if thread.status == ThreadStatus.INTERRUPTED else "runs"
        raise ThreadConflict(
            thread.id,
            f"is {thread.status.value}: run {thread.active_run_id!r} {doing} on it; "
            "start the next run when it is done",
            active_run=thread.active_run_id,
        )
    if thread.workflow is not None and thread.workflow != run.workflow:
        raise ThreadConflict(
            thread.id, f"holds runs of workflow {thread.workflow!r}, not {run.workflow!r}"
        )
    now = utcnow()
    if thread.active_run_id is not None:
        parked = run.model_copy(update={"lease_owner": None, "lease_expires_at": PARKED})
        return thread.model_copy(update={"queue": [*thread.queue, run.id], "updated_at": now}), (
            parked
        )
    held = thread.model_copy(
        update={
            "workflow": run.workflow,
            "status": ThreadStatus.BUSY,
            "active_run_id": run.id,
            "updated_at": now,
        }
    )
    return held, run


def promoted(thread: ThreadRecord, moved: ThreadRecord | None) -> str | None:
    """The queued run a move handed ``thread`` to (``moved``), to be unparked in its write."""
    if moved is None or moved.active_run_id in (None, thread.active_run_id):
        return None
    return moved.active_run_id if moved.active_run_id in thread.queue else None


def unparked(run: RunRecord) -> RunRecord:
    """A parked run made claimable (unchanged if it is not parked)."""
    if run.status != RunStatus.QUEUED or run.lease_expires_at != PARKED:
        return run
    return run.model_copy(update={"lease_expires_at": None, "updated_at": utcnow()})


def pop_values(changes: dict[str, Any]) -> dict[str, Any] | None:
    """The thread values a transition carries, taken out of the run's changes."""
    values: dict[str, Any] | None = changes.pop(THREAD_VALUES, None)
    return values


def after_move(
    thread: ThreadRecord, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
) -> ThreadRecord | None:
    """The thread once its run moved from ``before`` to ``after``; None when unchanged.

    A finished run lets the thread go (idle, or error when it failed) and leaves ``values`` as
    its state, handing it to the first run of its queue; an interrupted one keeps holding it. A
    failed run retried takes it again if no other run started on it meanwhile. A queued run
    finished (cancelled) leaves the queue.
    """
    if after.id in thread.queue:
        if not after.status.finished:
            return None
        queue = [r for r in thread.queue if r != after.id]
        return thread.model_copy(update={"queue": queue, "updated_at": utcnow()})
    holds = thread.active_run_id == after.id
    retried = (
        before.status == RunStatus.FAILED
        and thread.active_run_id is None
        and thread.last_run_id == after.id
    )
    if not holds and not retried:
        return None
    update: dict[str, Any] = {"updated_at": utcnow()}
    settled = _SETTLED.get(after.status)
    if settled is not None:
        update.update(status=settled, last_run_id=after.id)
        if after.status != RunStatus.INTERRUPTED:
            update["active_run_id"] = None
            if thread.queue and holds:
                next_run, *rest = thread.queue
                update.update(status=ThreadStatus.BUSY, active_run_id=next_run, queue=rest)
        if values is not None:
            update["values"] = values
    elif thread.status != ThreadStatus.BUSY or retried:
        update.update(status=ThreadStatus.BUSY, active_run_id=after.id)
    else:
        return None
    return thread.model_copy(update=update)


def stored_object(field: str, value: object) -> dict[str, Any] | None:
    """``value`` (an update's metadata or values, None for none) as the JSON object a store
    keeps: what the thread read back holds, whichever backend keeps it."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidThreadUpdate(field, f"expected an object, not {type(value).__name__}")
    try:
        stored: dict[str, Any] = to_jsonable_python(dict(value))
    except PydanticSerializationError as exc:
        raise InvalidThreadUpdate(field, f"cannot be stored as JSON: {exc}") from None
    return stored


def changed(
    thread: ThreadRecord, *, metadata: dict[str, Any] | None, values: dict[str, Any] | None
) -> ThreadRecord:
    """The thread with ``metadata`` merged into its own and ``values`` (if any) as its state."""
    update: dict[str, Any] = {"updated_at": utcnow()}
    if metadata:
        update["metadata"] = {**thread.metadata, **metadata}
    if values is not None:
        update["values"] = values
    return thread.model_copy(update=update)


def copy_of(thread: ThreadRecord, new_id: str, created_by: Any) -> ThreadRecord:
    """A new idle thread with the same workflow, metadata and values."""
    now = utcnow()
    return ThreadRecord(
        id=new_id,
        namespace=thread.namespace,
        workflow=thread.workflow,
        created_by=created_by,
        metadata=dict(thread.metadata),
        values=dict(thread.values),
        created_at=now,
        updated_at=now,
    )


def copied_run_id(thread_id: str, run_id: str) -> str:
    """The checkpoint thread a copied thread keeps a run's copied history under."""
    return f"{run_id}~{thread_id}"


def erasable(run: RunRecord) -> None:
    """Only a finished run of a thread is erased (``rollback`` cancels it first)."""
    if run.thread_id is None or not run.status.finished:
        what = "is on no thread" if run.thread_id is None else f"is {run.status.value}"
        raise ThreadConflict(run.thread_id or "-", f"run {run.id!r} {what}: not erased")


def deletable(thread: ThreadRecord) -> None:
    """A thread is deleted only when no run executes on it (an interrupted one goes with it)."""
    if thread.status == ThreadStatus.BUSY:
        raise ThreadConflict(
            thread.id,
            f"is busy: run {thread.active_run_id!r} runs on it; cancel it first",
            active_run=thread.active_run_id,
        )
