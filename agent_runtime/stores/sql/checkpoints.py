"""The checkpoint tables of the SQL stores and what their savers share: one row a checkpoint
(LangGraph's serde, one blob), one row a write, the same statements in each dialect."""

from __future__ import annotations

import json
from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP, get_checkpoint_id

from agent_runtime.stores.coalescing import Listing, PendingCheckpoint, TaskWrites
from agent_runtime.stores.sql.dialect import Dialect


def schema(d: Dialect) -> str:
    """The ``ca_checkpoints`` and ``ca_checkpoint_writes`` tables (a schema version's text)."""
    return f"""
{d.create} ca_checkpoints (
    thread_id {d.key} NOT NULL,
    checkpoint_ns {d.key} NOT NULL DEFAULT '',
    checkpoint_id {d.key} NOT NULL,
    parent_checkpoint_id {d.key},
    type TEXT NOT NULL,
    checkpoint {d.blob} NOT NULL,
    metadata {d.json} NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
{d.create} ca_checkpoint_writes (
    thread_id {d.key} NOT NULL,
    checkpoint_ns {d.key} NOT NULL DEFAULT '',
    checkpoint_id {d.key} NOT NULL,
    task_id {d.key} NOT NULL,
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT,
    value {d.blob},
    task_path TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
)
"""


def write_statements(d: Dialect) -> tuple[str, str]:
    """(upsert, insert) of a write row. Special writes (errors, interrupts, resumes) replace
    their slot; regular ones are idempotent."""
    insert = (
        "INSERT INTO ca_checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx,"
        f" channel, type, value, task_path) VALUES ({d.marks(9)})"
        " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO "
    )
    upsert = "UPDATE SET channel = excluded.channel, type = excluded.type, value = excluded.value"
    return insert + upsert, insert + "NOTHING"


def upsert_checkpoint(values: str) -> str:
    """The upsert of a checkpoint row from ``values`` (its seven columns' placeholders)."""
    return (
        "INSERT INTO ca_checkpoints (thread_id, checkpoint_ns, checkpoint_id,"
        f" parent_checkpoint_id, type, checkpoint, metadata) VALUES ({values})"
        " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET"
        " type = excluded.type, checkpoint = excluded.checkpoint, metadata = excluded.metadata"
    )


def checkpoint_row(cp: PendingCheckpoint) -> tuple[Any, ...]:
    """A checkpoint's row, in ``upsert_checkpoint``'s column order."""
    return (
        cp.thread_id,
        cp.ns,
        cp.checkpoint_id,
        cp.parent,
        cp.kind,
        cp.data,
        json.dumps(cp.metadata),
    )


def write_rows(
    serde: Any, thread_id: str, staged: list[TaskWrites]
) -> list[tuple[bool, list[tuple[Any, ...]]]]:
    """Rows of ``(thread, ns, checkpoint, task, idx, channel, type, value, task_path)`` per
    task, and whether they replace (special writes: errors, interrupts) or keep the first."""
    batches: list[tuple[bool, list[tuple[Any, ...]]]] = []
    for task in staged:
        rows = []
        for position, (channel, value) in enumerate(task.writes):
            kind, blob = serde.dumps_typed(value)
            idx = WRITES_IDX_MAP.get(channel, position)
            row = (thread_id, task.ns, task.checkpoint_id, task.task_id, idx, channel, kind, blob)
            rows.append((*row, task.task_path))
        if rows:
            batches.append((all(c in WRITES_IDX_MAP for c, _ in task.writes), rows))
    return batches


def list_conditions(listing: Listing) -> list[tuple[str, str, Any]]:
    """``alist``'s ``(column, operator, value)`` conditions of a config and ``before``."""
    config, before = listing.config, listing.before
    conditions: list[tuple[str, str, Any]] = []
    if config:
        conf = config["configurable"]
        conditions.append(("thread_id", "=", str(conf["thread_id"])))
        if (ns := conf.get("checkpoint_ns")) is not None:
            conditions.append(("checkpoint_ns", "=", ns))
        if checkpoint_id := get_checkpoint_id(config):
            conditions.append(("checkpoint_id", "=", checkpoint_id))
    if before is not None and (before_id := get_checkpoint_id(before)):
        conditions.append(("checkpoint_id", "<", before_id))
    return conditions
