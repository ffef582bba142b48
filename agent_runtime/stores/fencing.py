"""Fencing: what a process writes on a run it executes lands only while it holds the run's lease.

A replica paused (SIGSTOP) or cut off while it holds a lease may go on once the lease ran out
and another replica took the run over; a step it was committing then (checkpoint, step records,
events), an event, the run's last transition would land in a run it no longer owns, perhaps
after the run finished. So the engine executes a run inside ``fenced(run_id, owner)``, and every
backend checks, in the transaction of each write on that run made there, that ``owner`` holds
the lease and that it has not expired (by the store's clock where it has one), and raises
``LeaseLost`` otherwise, with nothing of the write stored.

The fence is a context variable: LangGraph's tasks of the execution (and the checkpointer's
commits they make) inherit it, while a request the same process serves meanwhile (a cancel, an
answer) writes unfenced, as any other process would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from agent_runtime.stores.errors import LeaseLost
from agent_runtime.stores.records import RunRecord

_FENCE: ContextVar[tuple[str, str] | None] = ContextVar("configurable_agents_fence", default=None)


@contextmanager
def fenced(run_id: str, owner: str) -> Iterator[None]:
    """Writes on ``run_id`` made in this context succeed only while ``owner`` holds its lease."""
    token = _FENCE.set((run_id, owner))
    try:
        yield
    finally:
        _FENCE.reset(token)


def holder(run_id: str) -> str | None:
    """The owner whose lease a write on ``run_id`` made here must find, or None (unfenced)."""
    fence = _FENCE.get()
    return fence[1] if fence is not None and fence[0] == run_id else None


def holds(run: RunRecord, owner: str, now: datetime) -> bool:
    """Whether ``owner`` holds the run's lease at ``now`` (a lease with no end does not end)."""
    return run.lease_owner == owner and (run.lease_expires_at is None or run.lease_expires_at > now)


def check_held(run: RunRecord, owner: str | None, now: datetime) -> None:
    """Raise ``LeaseLost`` unless the write is unfenced (``owner`` None) or ``owner`` holds it."""
    if owner is not None and not holds(run, owner, now):
        raise LeaseLost(run.id, owner)
