"""The items of LangGraph checkpoints and task writes, built for a transaction."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import WRITES_IDX_MAP
from langgraph.checkpoint.serde.base import SerializerProtocol

from agent_runtime.stores.coalescing import PendingCheckpoint, TaskWrites
from agent_runtime.stores.s3 import transact
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.layout import PK, SK, esc, run_pk
from agent_runtime.stores.s3.payloads import object_of, pack
from agent_runtime.stores.s3.transact import Kind, Op


def cp_prefix(ns: str | None) -> str:
    return "cp#" if ns is None else f"cp#{esc(ns)}#"


def writes_prefix(ns: str, checkpoint_id: str) -> str:
    return f"w#{esc(ns)}#{checkpoint_id}#"


def checkpoint_op(aws: Aws, serde: SerializerProtocol, cp: PendingCheckpoint) -> Op:
    md_kind, md_data = serde.dumps_typed(cp.metadata)
    item: dict[str, Any] = {
        PK: {"S": run_pk(cp.thread_id)},
        SK: {"S": cp_prefix(cp.ns) + cp.checkpoint_id},
        "ns": {"S": cp.ns},
        "cid": {"S": cp.checkpoint_id},
        "type": {"S": cp.kind},
        "md_type": {"S": md_kind},
        "md": {"B": md_data},
        **pack(aws, cp.data, run_id=cp.thread_id, name=f"checkpoint-{cp.checkpoint_id}"),
    }
    if cp.parent:
        item["parent"] = {"S": cp.parent}
    # Written again (the same id), the old S3 object, if any, stays until the run is pruned.
    return Op(Kind.PUT, transact.put(aws.url.table, item), [object_of(item)])


def write_ops(
    aws: Aws, serde: SerializerProtocol, thread_id: str, staged: list[TaskWrites]
) -> list[Op]:
    """A Put per task write: a regular one is kept as first written (written only if
    absent), special ones (errors, interrupts) replace theirs, as LangGraph's savers do."""
    ops: dict[str, Op] = {}
    for task in staged:
        prefix = writes_prefix(task.ns, task.checkpoint_id)
        for position, (channel, value) in enumerate(task.writes):
            index = WRITES_IDX_MAP.get(channel, position)
            sk = f"{prefix}{esc(task.task_id)}#{index}"
            special = channel in WRITES_IDX_MAP
            if sk in ops and not special:
                continue
            kind, data = serde.dumps_typed(value)
            item = {
                PK: {"S": run_pk(thread_id)},
                SK: {"S": sk},
                "task_id": {"S": task.task_id},
                "task_path": {"S": task.task_path},
                "idx": {"N": str(index)},
                "channel": {"S": channel},
                "type": {"S": kind},
                **pack(aws, data, run_id=thread_id, name=f"write-{task.checkpoint_id}"),
            }
            table = aws.url.table
            ops[sk] = (
                Op(Kind.PUT, transact.put(table, item), [object_of(item)])
                if special
                else Op(
                    Kind.OPTIONAL,
                    transact.put(table, item, "attribute_not_exists(#pk)"),
                    [object_of(item)],
                )
            )
    return list(ops.values())
