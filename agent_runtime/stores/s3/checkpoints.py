"""LangGraph's checkpoint saver on DynamoDB, with states too large for an item in S3.

Each checkpoint is one item holding the whole serialized checkpoint; states beyond DynamoDB's
item limit go to S3 transparently. Items live in the partition of their thread (the run), so
deleting a run deletes its checkpoints with one query.

A durable step is one ``TransactWriteItems`` request (see ``coalescing``): the checkpoint, the
task writes it does not supersede, the step records and events the engine handed over
(``StepOutbox``), and a check that the run is not cancelled (``is_cancelled`` then needs no
read), or, for a fenced run, that the writer holds its lease (``stores.fencing``). The sync
methods write at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
)

from agent_runtime.stores.coalescing import (
    CoalescingSaver,
    Listing,
    PendingCheckpoint,
    TaskWrites,
    config_of,
)
from agent_runtime.stores.records import RunEvent, StepRecord
from agent_runtime.stores.s3 import transact
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.checkpoint_items import (
    checkpoint_op,
    cp_prefix,
    write_ops,
    writes_prefix,
)
from agent_runtime.stores.s3.connection import S3Connection
from agent_runtime.stores.s3.fencing import Fence, fence_for
from agent_runtime.stores.s3.layout import PK, SK, TTL_ATTRIBUTE, run_pk
from agent_runtime.stores.s3.outbox import StepOutbox, step_op
from agent_runtime.stores.s3.payloads import DOC_S3, ObjectGone, object_of, unpack
from agent_runtime.stores.s3.tableops import delete_items, partition, put_items, query
from agent_runtime.stores.s3.transact import EventNumbers

T = TypeVar("T")
#: Reads that met an S3 object deleted by a concurrent prune are tried this often.
READ_TRIES = 3


class DynamoSaver(CoalescingSaver):
    """Checkpoints and pending writes as items of the run's partition."""

    def __init__(
        self, aws: Aws, outbox: StepOutbox | None = None, numbers: EventNumbers | None = None
    ) -> None:
        super().__init__()
        self.aws = aws
        self.outbox = outbox or StepOutbox()
        self.numbers = numbers or EventNumbers()

    # ------------------------------------------------------------------ async (the pool)

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.aws.run(functools.partial(fn, *args, **kwargs))

    async def _read_one(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._run(self._get_tuple, config)

    async def _read_many(self, listing: Listing) -> list[CheckpointTuple]:
        return await self._run(lambda: list(self._list(listing)))

    async def adelete_thread(self, thread_id: str) -> None:
        await self._before_reading(str(thread_id))
        await self._run(self._delete_thread, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await self._before_reading(str(source_thread_id))
        await self._run(self._copy_thread, str(source_thread_id), str(target_thread_id))

    async def _prune(self, thread_ids: list[str], strategy: str) -> None:
        await self._run(self._prune_now, thread_ids, strategy)

    # ------------------------------------------------------------------ commits

    def _waiting(self, thread_id: str) -> bool:
        return super()._waiting(thread_id) or bool(self.outbox.pending.get(thread_id))

    async def _write_step(
        self, thread_id: str, checkpoints: list[PendingCheckpoint], writes: list[TaskWrites]
    ) -> None:
        # Steps of a commit that fails are lost with the writes they belong with: whoever goes
        # on re-runs the node and records it again.
        steps, events = self.outbox.take(thread_id)
        fence = fence_for(self.aws.url.table, thread_id)
        outcome = await self.aws.run(
            self._write, thread_id, checkpoints, writes, steps, events, fence
        )
        if outcome.cancelled is not None:
            self.outbox.cancelled[thread_id] = outcome.cancelled
        if outcome.expires_at is not None:
            self.outbox.expire(thread_id, outcome.expires_at)

    def _write(
        self,
        thread_id: str,
        checkpoints: list[PendingCheckpoint],
        writes: list[TaskWrites],
        steps: list[StepRecord],
        events: list[RunEvent],
        fence: Fence | None = None,
    ) -> transact.Outcome:
        """One transaction (more only past DynamoDB's limits): the task writes, the steps, the
        events, then the checkpoints; with the ``fence`` of a fenced run, else a check of the
        run's status when steps come along (a thread of LangGraph's own has no run to check)."""
        ops = [
            *write_ops(self.aws, self.serde, thread_id, writes),
            *(step_op(self.aws, st) for st in steps),
        ]
        events_after = len(ops)
        latest = {(cp.ns, cp.checkpoint_id): cp for cp in checkpoints}
        ops += [checkpoint_op(self.aws, self.serde, cp) for cp in latest.values()]
        if fence is None and (steps or events):
            ops.append(transact.not_cancelled_check(self.aws.url.table, thread_id))
        return transact.write(
            self.aws,
            ops,
            events=events,
            run_id=thread_id,
            numbers=self.numbers,
            expires_at=self.outbox.expiring.get(thread_id),
            events_after=events_after,
            fence=fence,
        )

    # ------------------------------------------------------------------ implementation

    def _get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), str(conf.get("checkpoint_ns", ""))
        checkpoint_id = get_checkpoint_id(config)
        for attempt in range(READ_TRIES):
            if checkpoint_id:
                got = self.aws.dynamodb.get_item(
                    TableName=self.aws.url.table,
                    Key={PK: {"S": run_pk(thread_id)}, SK: {"S": cp_prefix(ns) + checkpoint_id}},
                    ConsistentRead=True,
                )
                item = got.get("Item")
            else:
                page = self.aws.dynamodb.query(
                    TableName=self.aws.url.table,
                    KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                    ExpressionAttributeNames={"#pk": PK, "#sk": SK},
                    ExpressionAttributeValues={
                        ":pk": {"S": run_pk(thread_id)},
                        ":prefix": {"S": cp_prefix(ns)},
                    },
                    ScanIndexForward=False,
                    Limit=1,
                    ConsistentRead=True,
                )
                item = (page.get("Items") or [None])[0]
            if item is None:
                return None
            try:
                return self._tuple(thread_id, item)
            except ObjectGone:
                if attempt == READ_TRIES - 1:
                    return None
        return None  # pragma: no cover

    def _tuple(self, thread_id: str, item: dict[str, Any]) -> CheckpointTuple:
        ns, checkpoint_id = item["ns"]["S"], item["cid"]["S"]
        checkpoint: Checkpoint = self.serde.loads_typed((item["type"]["S"], unpack(self.aws, item)))
        metadata: CheckpointMetadata = self.serde.loads_typed(
            (item["md_type"]["S"], bytes(item["md"]["B"]))
        )
        writes = []
        for w in partition(self.aws, run_pk(thread_id), writes_prefix(ns, checkpoint_id)):
            value = self.serde.loads_typed((w["type"]["S"], unpack(self.aws, w)))
            key = (w["task_path"]["S"], w["task_id"]["S"], int(w["idx"]["N"]))
            writes.append((key, (w["task_id"]["S"], w["channel"]["S"], value)))
        writes.sort(key=lambda kv: kv[0])
        parent = item.get("parent", {}).get("S")
        return CheckpointTuple(
            config=config_of(thread_id, ns, checkpoint_id),
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config=config_of(thread_id, ns, parent) if parent else None,
            pending_writes=[w for _, w in writes],
        )

    def _list(self, listing: Listing) -> Iterator[CheckpointTuple]:
        config, wanted, before, limit = (
            listing.config,
            listing.filter,
            listing.before,
            listing.limit,
        )
        if config is None:
            ordered = self._all_checkpoints()
            only = None
        else:
            conf = config["configurable"]
            ns = conf.get("checkpoint_ns")
            only = get_checkpoint_id(config)
            values: dict[str, Any] = {":pk": {"S": run_pk(str(conf["thread_id"]))}}
            values[":prefix"] = {"S": cp_prefix(ns)}
            ordered = query(
                self.aws,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": PK, "#sk": SK},
                ExpressionAttributeValues=values,
                ScanIndexForward=False,
                ConsistentRead=True,
            )
            if ns is None:  # several namespaces: newest first across them
                ordered = iter(sorted(ordered, key=lambda it: it["cid"]["S"], reverse=True))
        before_id = get_checkpoint_id(before) if before else None
        count = 0
        for item in ordered:
            checkpoint_id = item["cid"]["S"]
            if (only and checkpoint_id != only) or (before_id and checkpoint_id >= before_id):
                continue
            if wanted:
                metadata = self.serde.loads_typed((item["md_type"]["S"], bytes(item["md"]["B"])))
                if any(metadata.get(k) != v for k, v in wanted.items()):
                    continue
            if limit is not None and count >= limit:
                return
            try:
                yield self._tuple(item[PK]["S"].removeprefix("run#"), item)
            except ObjectGone:  # pruned meanwhile
                continue
            count += 1

    def _all_checkpoints(self) -> Iterator[dict[str, Any]]:
        """Every checkpoint of every thread, newest first: a Scan of the whole table.

        Only for ``list(None)``, an admin and debugging path (LangGraph's engine always lists one
        thread); the store itself never scans. Its cost grows with the table.
        """
        args: dict[str, Any] = {
            "TableName": self.aws.url.table,
            "FilterExpression": "begins_with(#sk, :cp)",
            "ExpressionAttributeNames": {"#sk": SK},
            "ExpressionAttributeValues": {":cp": {"S": "cp#"}},
            "ConsistentRead": True,
        }
        found: list[dict[str, Any]] = []
        while True:
            page = self.aws.dynamodb.scan(**args)
            found.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found.sort(key=lambda it: it["cid"]["S"], reverse=True)
        return iter(found)

    def _delete_thread(self, thread_id: str) -> None:
        pk = run_pk(thread_id)
        doomed = [
            *partition(self.aws, pk, "cp#", keys_only=True),
            *partition(self.aws, pk, "w#", keys_only=True),
        ]
        delete_items(self.aws, doomed)

    def _copy_thread(self, source: str, target: str) -> None:
        """Every checkpoint and write of ``source`` under ``target`` (S3 objects copied too, so
        that deleting either thread leaves the other whole); a query and a batch write per 25."""
        copies = []
        for prefix in ("cp#", "w#"):
            for item in partition(self.aws, run_pk(source), prefix):
                copy = {**item, PK: {"S": run_pk(target)}}
                copy.pop(TTL_ATTRIBUTE, None)
                if key := object_of(item):
                    name = key.rsplit("/", 1)[-1]
                    new_key = self.aws.url.object_key("runs", target, name)
                    self.aws.s3.copy_object(
                        Bucket=self.aws.url.bucket,
                        Key=new_key,
                        CopySource={"Bucket": self.aws.url.bucket, "Key": key},
                    )
                    copy[DOC_S3] = {"S": new_key}
                copies.append(copy)
        put_items(self.aws, copies)

    def _prune_now(self, thread_ids: Sequence[str], strategy: str) -> None:
        if strategy == "delete":
            for thread_id in thread_ids:
                self._delete_thread(thread_id)
            return
        if strategy != "keep_latest":
            raise ValueError(f"unknown prune strategy {strategy!r}")
        for thread_id in thread_ids:
            pk = run_pk(thread_id)
            checkpoints = list(partition(self.aws, pk, "cp#", keys_only=True))
            latest: dict[str, str] = {}  # namespace prefix -> latest checkpoint sort key
            for item in checkpoints:
                sk = item[SK]["S"]
                ns_prefix = sk.rsplit("#", 1)[0]
                latest[ns_prefix] = max(latest.get(ns_prefix, ""), sk)
            keep = set(latest.values())
            doomed = [it for it in checkpoints if it[SK]["S"] not in keep]
            kept_writes = {"w" + sk[2:] + "#" for sk in keep}  # cp#ns#id -> w#ns#id#
            for item in partition(self.aws, pk, "w#", keys_only=True):
                if not any(item[SK]["S"].startswith(p) for p in kept_writes):
                    doomed.append(item)
            delete_items(self.aws, doomed)


class S3Checkpoints(S3Connection):
    def _new_saver(self) -> DynamoSaver:
        return DynamoSaver(self.aws, self._outbox, self._numbers)
