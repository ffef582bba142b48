"""A thread's history: the checkpoints of its runs, newest first, read run by run.

Each run keeps its checkpoints under its own LangGraph thread (the run id); a thread lists its
runs newest first (``Threads._thread_runs``), so the newest ``limit`` states cost one listing of
runs and one checkpoint query per run they span, however long the conversation is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver, CheckpointTuple

from agent_runtime.stores.errors import InvalidCursor
from agent_runtime.stores.records import ThreadState

#: ``(run id, checkpoint id)``: history older than this checkpoint of this run.
Cursor = tuple[str, str]
#: A thread's run ids newest first: ``(thread, limit, before run id, from it)``.
RunLister = Callable[[str, int, str | None, bool], Awaitable[list[str]]]
#: LangGraph's channels that say which node runs next (``branch:to:<node>``).
_NEXT = "branch:to:"


def state_of(run_id: str, found: CheckpointTuple) -> ThreadState:
    """A checkpoint as a history entry: declared fields only (the engine's own channels and
    LangGraph's start with ``__`` or hold ``:``)."""
    channels: dict[str, Any] = found.checkpoint.get("channel_values", {})
    parent = (
        found.parent_config["configurable"].get("checkpoint_id") if found.parent_config else None
    )
    stamp = found.checkpoint.get("ts")
    return ThreadState(
        run_id=run_id,
        checkpoint_id=found.checkpoint["id"],
        parent_checkpoint_id=parent,
        values={k: v for k, v in channels.items() if not k.startswith("__") and ":" not in k},
        next=sorted(k.removeprefix(_NEXT) for k in channels if k.startswith(_NEXT)),
        step=int((found.metadata or {}).get("step", -1)),
        created_at=datetime.fromisoformat(stamp) if stamp else None,
    )


async def history(
    saver: BaseCheckpointSaver[Any],
    runs_of: RunLister,
    thread_id: str,
    *,
    limit: int,
    before: Cursor | None,
) -> list[ThreadState]:
    """Up to ``limit`` states, newest first, older than ``before`` if given."""
    found: list[ThreadState] = []
    pending: list[str] = []
    last_run, exhausted = None, False
    if before:  # from the cursor's run, if it is one of this thread's
        pending = await runs_of(thread_id, limit, before[0], True)
        if not pending or pending[0] != before[0]:
            raise InvalidCursor("before: not a state of this thread (use nextCursor)")
        exhausted = len(pending) < limit
    while len(found) < limit:
        if not pending:
            if exhausted:
                break
            pending = await runs_of(thread_id, limit, last_run, False)
            exhausted = len(pending) < limit
            if not pending:
                break
        run_id = pending.pop(0)
        last_run = run_id
        older = None
        if before and run_id == before[0]:
            older = {"configurable": {"thread_id": run_id, "checkpoint_id": before[1]}}
        config = {"configurable": {"thread_id": run_id, "checkpoint_ns": ""}}
        async for tup in saver.alist(config, before=older, limit=limit - len(found)):  # type: ignore[arg-type]
            found.append(state_of(run_id, tup))
    return found
