"""S3 store run records: one versioned item each (large documents in S3); a transition and its
event are one transaction over the version last seen, written without reading first when this
process knows the run."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from agent_runtime.stores.base import Moved, NewEvent
from agent_runtime.stores.errors import InvalidTransition, StoreError
from agent_runtime.stores.fencing import check_held, holder
from agent_runtime.stores.paging import RunQuery, decode_cursor, encode_cursor, merge_pages
from agent_runtime.stores.records import RunEvent, RunPage, RunRecord, RunStatus, utcnow
from agent_runtime.stores.s3 import expiry, transact
from agent_runtime.stores.s3.connection import TRIES, KnownRun, S3Connection, lost_race, run_pk_id
from agent_runtime.stores.s3.fencing import held
from agent_runtime.stores.s3.layout import CREATED, LIST_INDEXES, PK, SK, key_pk, n, s, ts
from agent_runtime.stores.s3.payloads import ObjectGone, discard, object_of
from agent_runtime.stores.s3.tableops import batch_get
from agent_runtime.stores.s3.threads import claim_ops, settle_ops
from agent_runtime.stores.s3.transact import Kind, LostRace, Op
from agent_runtime.stores.thread_rules import pop_values, unparked
from agent_runtime.stores.transitions import apply_transition


class S3Runs(S3Connection):
    async def create_run(self, run: RunRecord, *, enqueue: bool = False) -> RunRecord:
        return await self.aws.run(self._create, run, enqueue)

    def _create(self, given: RunRecord, enqueue: bool = False) -> RunRecord:
        run = given
        for _ in range(TRIES):
            absent = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": PK},
            }
            thread_ops: list[Op] = []
            replaced = None
            if run.thread_id is not None:  # the thread is claimed in the same transaction
                if run.idempotency_key and (existing := self._by_key(run)):
                    return existing
                thread_ops, replaced, run = claim_ops(self.aws, given, enqueue=enqueue)
            item = self._run_item(run, 1)
            try:
                if run.idempotency_key or thread_ops:
                    entries = [{"Put": {"TableName": self._table, "Item": item, **absent}}]
                    if run.idempotency_key:
                        key = key_pk(run.namespace, run.workflow, run.idempotency_key)
                        key_item = {PK: s(key), SK: s("key"), "run_id": s(run.id)}
                        entries.append(
                            {"Put": {"TableName": self._table, "Item": key_item, **absent}}
                        )
                    entries += [op.request for op in thread_ops]
                    self.aws.dynamodb.transact_write_items(TransactItems=entries)
                else:
                    self.aws.dynamodb.put_item(TableName=self._table, Item=item, **absent)
                self._remember(run, 1, object_of(item))
                self._numbers.remember(run.id, 0)  # a new run has no events yet
                discard(self.aws, [replaced])
                return run
            except Exception as exc:
                discard(self.aws, [obj for op in thread_ops for obj in op.objects])
                if not lost_race(exc):
                    raise
                discard(self.aws, [object_of(item)])
            existing = self._by_key(run) if run.idempotency_key else None
            if existing is not None:
                return existing
            if self._exists(run.id):
                raise StoreError(f"run {run.id!r} already exists")
            # a conflict with a concurrent writer of the same key or thread: try again
        raise StoreError(f"cannot create run {run.id!r}: too many concurrent writers")

    def _by_key(self, run: RunRecord) -> RunRecord | None:
        assert run.idempotency_key is not None
        key = key_pk(run.namespace, run.workflow, run.idempotency_key)
        got = self.aws.dynamodb.get_item(
            TableName=self._table, Key={PK: s(key), SK: s("key")}, ConsistentRead=True
        )
        if "Item" not in got:
            return None
        return self._read(got["Item"]["run_id"]["S"])[1]

    async def get_run(self, run_id: str) -> RunRecord:
        return (await self.aws.run(self._read, run_id))[1]

    async def _list_page(self, query: RunQuery) -> RunPage:
        filters = dict(query.filters)
        if query.created_by is not None:  # checked on the records read (no index holds it)
            filters["created_by"] = query.created_by
        bound, limit, namespaces = None, query.limit, query.namespaces
        if query.cursor:
            created, run_id = decode_cursor(query.cursor)
            bound = f"{ts(datetime.fromisoformat(created))}#{run_id}"
        if namespaces is None:
            return await self.aws.run(self._list, filters, limit, bound)
        if "namespace" in filters:  # a workflow named with its namespace: one query or none
            if filters["namespace"] not in namespaces:
                return RunPage(items=[])
            return await self.aws.run(self._list, filters, limit, bound)
        pages = await asyncio.gather(
            *(
                self.aws.run(self._list, {**filters, "namespace": ns}, limit, bound)
                for ns in dict.fromkeys(namespaces)
            )
        )
        return merge_pages(pages, limit)

    async def count_runs(self, status: RunStatus) -> int:
        return await self.aws.run(self._count, status)

    def _count(self, status: RunStatus) -> int:
        """A COUNT query on the status index: keys only, no items read."""
        index, pk_attr, _ = LIST_INDEXES[("status",)]
        total, start = 0, None
        while True:
            extra: dict[str, Any] = {"ExclusiveStartKey": start} if start else {}
            page = self.aws.dynamodb.query(
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression="#p = :p",
                ExpressionAttributeNames={"#p": pk_attr},
                ExpressionAttributeValues={":p": s(status.value)},
                Select="COUNT",
                **extra,
            )
            total += int(page.get("Count", 0))
            if not (start := page.get("LastEvaluatedKey")):
                return total

    def _list(self, filters: dict[str, Any], limit: int, bound: str | None) -> RunPage:
        index, pk_attr, sk_attr = LIST_INDEXES[tuple(sorted(set(filters) - {"created_by"}))]
        wf, ns, st = filters.get("workflow"), filters.get("namespace"), filters.get("status")
        name = (f"{ns}/{wf}" if wf else ns) if ns else wf
        value = f"{name}#{st}" if name and st else (name or st or "runs")
        condition = "#p = :p"
        names, values = {"#p": pk_attr}, {":p": s(value)}
        if bound:
            condition += " AND #s < :bound"
            names["#s"], values[":bound"] = sk_attr, s(bound)
        page = self.aws.dynamodb.query(
            TableName=self._table,
            IndexName=index,
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit + 1,
        )
        keys = page.get("Items", [])
        more = len(keys) > limit
        keys = keys[:limit]
        found = {
            it[PK]["S"]: it for it in batch_get(self.aws, [{PK: k[PK], SK: k[SK]} for k in keys])
        }
        items: list[RunRecord] = []
        for key in keys:
            item = found.get(key[PK]["S"])
            if item is None:  # deleted since the index saw it
                continue
            try:
                run = self._to_run(item)
            except ObjectGone:
                run = self._read(run_pk_id(key[PK]["S"]))[1]
            # The index may lag the table (eventual consistency): show only what matches now.
            if all(_matches(run, f, v) for f, v in filters.items()):
                items.append(run)
        next_cursor = None
        if more and keys:
            created, _, run_id = keys[-1][CREATED]["S"].partition("#")
            next_cursor = encode_cursor(datetime.fromisoformat(created), run_id)
        return RunPage(items=items, next_cursor=next_cursor)

    async def _transition(
        self, run_id: str, status: RunStatus, changes: dict[str, Any], event: NewEvent | None
    ) -> Moved:
        owner = holder(run_id)
        run, appended = await self.aws.run(self._move, run_id, status, changes, event, owner)
        self._outbox.cancelled[run_id] = run.status == RunStatus.CANCELLED
        return run, appended

    def _move(
        self,
        run_id: str,
        status: RunStatus,
        changes: dict[str, Any],
        event: NewEvent | None,
        owner: str | None = None,
    ) -> Moved:
        """The transition and its event in one transaction, over the version last seen (no
        read when this process knows it), and only while ``owner`` holds the lease of a fenced
        run; with retention, the TTL of the run's other items changes in it too when the run
        finishes (or goes on after failing)."""
        values = pop_values(changes)
        known = self._recall(run_id)
        touched: list[Op] | None = None
        for _ in range(TRIES):
            fresh = known is None
            if known is None:
                item, run = self._read(run_id)
                known = KnownRun(int(item["ver"]["N"]), run, object_of(item))
                check_held(run, owner, utcnow())
            try:
                updated = apply_transition(known.run, status, changes)
            except InvalidTransition:
                if not fresh:  # perhaps stale: read it and check again
                    self._forget(run_id)
                    known = None
                    continue
                raise
            new = self._run_item(updated, known.ver + 1)
            condition, names, args = "#ver = :ver", {"#ver": "ver"}, {":ver": n(known.ver)}
            if owner is not None:  # a lease lost since it was read: LostRace, read, refused
                lease, lease_names, lease_args = held(owner)
                condition = f"{condition} AND {lease}"
                names, args = {**names, **lease_names}, {**args, **lease_args}
            ops = [
                Op(
                    Kind.VERSIONED,
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": new,
                            "ConditionExpression": condition,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": args,
                        }
                    },
                    [object_of(new)],
                )
            ]
            ttl = expiry.expires_at(updated, self.config.retention)
            if self.config.retention and known.run.status.finished != updated.status.finished:
                if touched is None:
                    touched = expiry.ttl_ops(self.aws, updated, new.get("key_pk"), ttl)
                    self._numbers.remember_at_least(run_id, touched)
                ops += touched
            # next to the run's own item: in its transaction, however many TTL updates follow
            thread_ops, replaced, next_run = settle_ops(self.aws, known.run, updated, values)
            if next_run is not None:
                thread_ops.append(self._unpark_op(next_run))
            ops[1:1] = thread_ops
            events = [RunEvent(run_id=run_id, seq=0, type=event[0], data=event[1])] if event else []
            try:
                outcome = transact.write(
                    self.aws,
                    ops,
                    events=events,
                    run_id=run_id,
                    numbers=self._numbers,
                    expires_at=ttl,
                    events_after=1,
                )
            except LostRace:
                self._forget(run_id)
                known = None
                continue
            discard(self.aws, [known.obj, replaced])
            if next_run is not None:
                self._forget(next_run)
            self._remember(updated, known.ver + 1, object_of(new))
            self._outbox.expire(run_id, ttl)
            return updated, (outcome.events[0] if outcome.events else None)
        raise StoreError(f"run {run_id!r} keeps changing; try the transition again")

    def _unpark_op(self, run_id: str) -> Op:
        """The queued run a thread was handed to, made claimable, over the version read."""
        item, run = self._read(run_id)
        ver = int(item["ver"]["N"])
        new = self._run_item(unparked(run), ver + 1)
        return Op(
            Kind.VERSIONED,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": new,
                    "ConditionExpression": "#ver = :ver",
                    "ExpressionAttributeNames": {"#ver": "ver"},
                    "ExpressionAttributeValues": {":ver": n(ver)},
                }
            },
            [object_of(new)],
        )


def _matches(run: RunRecord, field: str, value: Any) -> bool:
    if field == "created_by":
        return run.created_by is not None and run.created_by.username == value
    return bool(getattr(run, field) == value)
