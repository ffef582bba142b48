"""The S3 + DynamoDB run store: records, steps, events and leases in one DynamoDB table.

Every write that must not race is conditional: a run item carries a version number that each
writer checks and bumps (transitions, claims, renewals), so two gateways can never both hold a
run, and a transition never overwrites one it did not read. Event numbers are gapless: event
``n`` is written (conditionally, so once) only after ``n - 1`` exists, so a reader that saw
``n`` has seen everything before it (what ``Last-Event-ID`` needs).

Steps cost one request each: the engine hands a finished node's step record and events over
(``defer_step``) and the checkpointer writes them in the transaction of that node's checkpoint,
which also checks the run is not cancelled (``is_cancelled`` then reads nothing). A transition
and its event are one transaction too, and the run records this process last read or wrote are
kept (``_known``), so a transition writes without reading first: the version condition catches
a record that changed meanwhile, and then it is read and tried again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from agent_runtime.stores.base import RunStore
from agent_runtime.stores.counters import gcra
from agent_runtime.stores.errors import InvalidTransition, RunNotFound, StoreError
from agent_runtime.stores.paging import decode_cursor, encode_cursor, merge_pages, run_filters
from agent_runtime.stores.records import (
    RunEvent,
    RunPage,
    RunRecord,
    RunStatus,
    Spend,
    StepRecord,
    utcnow,
)
from agent_runtime.stores.s3 import expiry, setup, spend, transact
from agent_runtime.stores.s3.aws import Aws, error_code
from agent_runtime.stores.s3.checkpointer import DynamoSaver
from agent_runtime.stores.s3.config import parse_s3_url
from agent_runtime.stores.s3.layout import (
    CLAIM_INDEX,
    CLAIM_PK,
    CLAIM_SK,
    CREATED,
    FINISHED_INDEX,
    FINISHED_PK,
    FINISHED_SK,
    LIST_INDEXES,
    PK,
    RUN_SK,
    SK,
    TTL_ATTRIBUTE,
    esc,
    event_sk,
    index_attributes,
    key_pk,
    n,
    run_pk,
    s,
    ts,
)
from agent_runtime.stores.s3.outbox import StepOutbox, step_op
from agent_runtime.stores.s3.payloads import ObjectGone, discard, object_of, pack, unpack
from agent_runtime.stores.s3.tableops import batch_get, delete_items, partition, query
from agent_runtime.stores.s3.transact import EventNumbers, Kind, LostRace, Op
from agent_runtime.stores.transitions import apply_transition

log = logging.getLogger(__name__)

#: The lease lives in item attributes beside the record, so renewals write no document.
LEASE_FIELDS = {"lease_owner", "lease_expires_at"}
#: Optimistic writes give up after this many lost races (a run hammered by writers).
TRIES = 50
#: Run records this process last read or wrote, to move them on without reading (bounded).
KNOWN_RUNS = 4096
CONDITION_FAILED = ("ConditionalCheckFailedException", "TransactionCanceledException")


def _lost_race(exc: BaseException) -> bool:
    return error_code(exc) in CONDITION_FAILED


@dataclass(frozen=True)
class _Known:
    """A run record as its item holds it at version ``ver`` (``obj``: its S3 object, if any)."""

    ver: int
    run: RunRecord
    obj: str | None


class S3Store(RunStore):
    """Run records in DynamoDB, large documents in S3; LangGraph checkpoints by DynamoSaver."""

    defers_steps = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = parse_s3_url(url)
        self._aws: Aws | None = None
        self._saver: DynamoSaver | None = None
        self._numbers = EventNumbers()
        self._outbox = StepOutbox()
        self._known: OrderedDict[str, _Known] = OrderedDict()
        self._known_lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    async def open(self) -> None:
        aws = Aws(self.config)
        try:
            await aws.run_doing("cannot open", lambda: setup.check(aws))
        except BaseException:
            await asyncio.to_thread(aws.close)
            raise
        self._aws = aws
        self._saver = DynamoSaver(aws, self._outbox, self._numbers)

    async def init(self) -> list[str]:
        """Create the table (with its indexes and TTL) and the bucket, if missing."""
        aws = Aws(self.config)
        try:
            return await aws.run_doing("cannot create", lambda: setup.create(aws))
        finally:
            await asyncio.to_thread(aws.close)

    async def close(self) -> None:
        aws, self._aws, self._saver = self._aws, None, None
        if aws is not None:
            await asyncio.to_thread(aws.close)

    @property
    def aws(self) -> Aws:
        if self._aws is None:
            raise StoreError("the store is not open")
        return self._aws

    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        if self._saver is None:
            raise StoreError("the store is not open")
        return self._saver

    # ------------------------------------------------------------------ items and records

    @property
    def _table(self) -> str:
        return self.config.table

    def _run_item(self, run: RunRecord, ver: int) -> dict[str, Any]:
        doc = run.model_dump_json(exclude=LEASE_FIELDS).encode()
        item: dict[str, Any] = {
            PK: s(run_pk(run.id)),
            SK: s(RUN_SK),
            "ver": n(ver),
            **index_attributes(run),
            **pack(self.aws, doc, run_id=run.id, name=f"record-{ver}"),
        }
        if run.lease_owner:
            item["lease_owner"] = s(run.lease_owner)
        if run.lease_expires_at:
            item["lease_until"] = s(ts(run.lease_expires_at))
        if run.idempotency_key:
            item["key_pk"] = s(key_pk(run.namespace, run.workflow, run.idempotency_key))
        if (ttl := expiry.expires_at(run, self.config.retention)) is not None:
            item[TTL_ATTRIBUTE] = n(ttl)
        return item

    def _to_run(self, item: dict[str, Any]) -> RunRecord:
        run = RunRecord.model_validate_json(unpack(self.aws, item))
        until = item.get("lease_until", {}).get("S")
        return run.model_copy(
            update={
                "lease_owner": item.get("lease_owner", {}).get("S"),
                "lease_expires_at": datetime.fromisoformat(until) if until else None,
            }
        )

    def _key(self, run_id: str) -> dict[str, Any]:
        return {PK: s(run_pk(run_id)), SK: s(RUN_SK)}

    def _item(self, run_id: str) -> dict[str, Any]:
        got = self.aws.dynamodb.get_item(
            TableName=self._table, Key=self._key(run_id), ConsistentRead=True
        )
        if "Item" not in got:
            raise RunNotFound(run_id)
        item: dict[str, Any] = got["Item"]
        return item

    def _read(self, run_id: str) -> tuple[dict[str, Any], RunRecord]:
        for _ in range(TRIES):
            item = self._item(run_id)
            try:
                run = self._to_run(item)
            except ObjectGone:  # rewritten meanwhile: read the new version
                continue
            self._remember(run, int(item["ver"]["N"]), object_of(item))
            return item, run
        raise StoreError(f"run {run_id!r} keeps changing; try again")

    def _remember(self, run: RunRecord, ver: int, obj: str | None) -> None:
        with self._known_lock:
            self._known[run.id] = _Known(ver, run, obj)
            self._known.move_to_end(run.id)
            while len(self._known) > KNOWN_RUNS:
                self._known.popitem(last=False)

    def _recall(self, run_id: str) -> _Known | None:
        with self._known_lock:
            return self._known.get(run_id)

    def _forget(self, run_id: str) -> None:
        with self._known_lock:
            self._known.pop(run_id, None)

    # ------------------------------------------------------------------ runs

    async def create_run(self, run: RunRecord) -> RunRecord:
        return await self.aws.run(self._create, run)

    def _create(self, run: RunRecord) -> RunRecord:
        for _ in range(TRIES):
            item = self._run_item(run, 1)
            absent = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": PK},
            }
            try:
                if run.idempotency_key:
                    key = key_pk(run.namespace, run.workflow, run.idempotency_key)
                    key_item = {PK: s(key), SK: s("key"), "run_id": s(run.id)}
                    self.aws.dynamodb.transact_write_items(
                        TransactItems=[
                            {"Put": {"TableName": self._table, "Item": item, **absent}},
                            {"Put": {"TableName": self._table, "Item": key_item, **absent}},
                        ]
                    )
                else:
                    self.aws.dynamodb.put_item(TableName=self._table, Item=item, **absent)
                self._remember(run, 1, object_of(item))
                self._numbers.remember(run.id, 0)  # a new run has no events yet
                return run
            except Exception as exc:
                if not _lost_race(exc):
                    raise
                discard(self.aws, [object_of(item)])
            existing = self._by_key(run) if run.idempotency_key else None
            if existing is not None:
                return existing
            if self._exists(run.id):
                raise StoreError(f"run {run.id!r} already exists")
            # a transaction conflict with a concurrent writer of the same key: try again
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

    def _exists(self, run_id: str) -> bool:
        got = self.aws.dynamodb.get_item(
            TableName=self._table,
            Key=self._key(run_id),
            ConsistentRead=True,
            ProjectionExpression="#pk",
            ExpressionAttributeNames={"#pk": PK},
        )
        return "Item" in got

    async def get_run(self, run_id: str) -> RunRecord:
        return (await self.aws.run(self._read, run_id))[1]

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        namespaces: Sequence[str] | None = None,
        created_by: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        filters = dict(run_filters(workflow, status))
        if created_by is not None:  # checked on the records read (no index holds it)
            filters["created_by"] = created_by
        bound = None
        if cursor:
            created, run_id = decode_cursor(cursor)
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

    async def transition(self, run_id: str, status: RunStatus, **changes: Any) -> RunRecord:
        run, _ = await self.aws.run(self._move, run_id, status, changes, None)
        self._outbox.cancelled[run_id] = run.status == RunStatus.CANCELLED
        return run

    async def transition_and_emit(
        self, run_id: str, status: RunStatus, kind: str, data: dict[str, Any], **changes: Any
    ) -> tuple[RunRecord, RunEvent]:
        run, event = await self.aws.run(self._move, run_id, status, changes, (kind, data))
        self._outbox.cancelled[run_id] = run.status == RunStatus.CANCELLED
        assert event is not None
        return run, event

    def _move(
        self,
        run_id: str,
        status: RunStatus,
        changes: dict[str, Any],
        event: tuple[str, dict[str, Any]] | None,
    ) -> tuple[RunRecord, RunEvent | None]:
        """The transition and its event in one transaction, over the version last seen (no
        read when this process knows it); with retention, the TTL of the run's other items
        changes in it too when the run finishes (or goes on after failing)."""
        known = self._recall(run_id)
        touched: list[Op] | None = None
        for _ in range(TRIES):
            fresh = known is None
            if known is None:
                item, run = self._read(run_id)
                known = _Known(int(item["ver"]["N"]), run, object_of(item))
            try:
                updated = apply_transition(known.run, status, changes)
            except InvalidTransition:
                if not fresh:  # perhaps stale: read it and check again
                    self._forget(run_id)
                    known = None
                    continue
                raise
            new = self._run_item(updated, known.ver + 1)
            ops = [
                Op(
                    Kind.VERSIONED,
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": new,
                            "ConditionExpression": "#ver = :ver",
                            "ExpressionAttributeNames": {"#ver": "ver"},
                            "ExpressionAttributeValues": {":ver": n(known.ver)},
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
            discard(self.aws, [known.obj])
            self._remember(updated, known.ver + 1, object_of(new))
            self._outbox.expire(run_id, ttl)
            return updated, (outcome.events[0] if outcome.events else None)
        raise StoreError(f"run {run_id!r} keeps changing; try the transition again")

    # ------------------------------------------------------------------ steps and events

    async def record_step(
        self, step: StepRecord, *, event: tuple[str, dict[str, Any]] | None = None
    ) -> RunEvent | None:
        """The step and its event: one request."""
        events = (
            [RunEvent(run_id=step.run_id, seq=0, type=event[0], data=event[1])] if event else []
        )
        outcome = await self.aws.run(
            lambda: transact.write(
                self.aws,
                [step_op(self.aws, step)],
                events=events,
                run_id=step.run_id,
                numbers=self._numbers,
                expires_at=self._outbox.expiring.get(step.run_id),
            )
        )
        return outcome.events[0] if outcome.events else None

    def defer_step(
        self, run_id: str, step: StepRecord | None, event: tuple[str, dict[str, Any]]
    ) -> RunEvent:
        pending = RunEvent(run_id=run_id, seq=0, type=event[0], data=event[1])
        self._outbox.add(run_id, step, pending)
        return pending

    async def flush_steps(self, run_id: str) -> None:
        try:
            if self._saver is not None:
                await self._saver.flush(run_id)
        finally:
            self._outbox.pending.pop(run_id, None)
            self._outbox.cancelled.pop(run_id, None)

    async def is_cancelled(self, run_id: str) -> bool:
        seen = self._outbox.cancelled.pop(run_id, None)
        if seen is None:
            return await super().is_cancelled(run_id)
        return seen

    async def append_event(self, run_id: str, kind: str, data: dict[str, Any]) -> RunEvent:
        event = RunEvent(run_id=run_id, seq=0, type=kind, data=data)
        outcome = await self.aws.run(
            lambda: transact.write(
                self.aws,
                [],
                events=[event],
                run_id=run_id,
                numbers=self._numbers,
                expires_at=self._outbox.expiring.get(run_id),
            )
        )
        return outcome.events[0]

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        return await self.aws.run(self._list_steps, run_id)

    def _list_steps(self, run_id: str) -> list[StepRecord]:
        steps = [
            StepRecord.model_validate_json(unpack(self.aws, item))
            for item in partition(self.aws, run_pk(run_id), "step#")
        ]
        steps.sort(key=lambda st: (ts(st.started_at), st.node, st.visit, st.attempt))
        return steps

    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]:
        return await self.aws.run(self._list_events, run_id, after)

    def _list_events(self, run_id: str, after: int) -> list[RunEvent]:
        items = query(
            self.aws,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={
                ":pk": s(run_pk(run_id)),
                ":lo": s(event_sk(max(after, 0) + 1)),
                ":hi": s(event_sk(10**12 - 1)),
            },
            ConsistentRead=True,
        )
        return [RunEvent.model_validate_json(unpack(self.aws, item)) for item in items]

    # ------------------------------------------------------------------ leases

    caps_namespaces = False

    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        if max_per_namespace:
            raise StoreError(
                "the s3 store cannot cap a namespace's runs in flight yet; use postgres for that"
            )
        return await self.aws.run(self._claim, owner, ttl)

    async def take_token(self, key: str, *, rate: float, burst: int) -> float:
        return await self.aws.run(self._take_token, key, rate, burst)

    def _take_token(self, key: str, rate: float, burst: int) -> float:
        """Read the key's arrival time, write the next one if it is still the same (GCRA)."""
        item_key = {PK: s(f"limit#{esc(key)}"), SK: s("limit")}
        for _ in range(20):
            got = self.aws.dynamodb.get_item(
                TableName=self._table, Key=item_key, ConsistentRead=True
            ).get("Item")
            old = float(got["tat"]["N"]) if got else None
            tat, wait = gcra(old, time.time(), rate=rate, burst=burst)
            if tat is None:
                return wait
            condition = "attribute_not_exists(tat)" if old is None else "tat = :old"
            values = {":old": n(old)} if old is not None else {}
            try:
                self.aws.dynamodb.put_item(
                    TableName=self._table,
                    Item={**item_key, "tat": n(tat)},
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
            except Exception as exc:
                if not _lost_race(exc):
                    raise
                continue  # another replica took a token meanwhile: count again
            return 0.0
        raise StoreError(f"rate limit {key!r}: too much contention")

    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        await self.aws.run(spend.add, self.aws, namespace, tokens=tokens, cost=cost, at=at)

    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        return await self.aws.run(spend.get, self.aws, namespace, at=at)

    def _claim(self, owner: str, ttl: float) -> RunRecord | None:
        for _ in range(5):
            now = utcnow()
            candidates = self.aws.dynamodb.query(
                TableName=self._table,
                IndexName=CLAIM_INDEX,
                KeyConditionExpression="#cp = :cp AND #cs < :now",
                ExpressionAttributeNames={"#cp": CLAIM_PK, "#cs": CLAIM_SK},
                ExpressionAttributeValues={":cp": s("claimable"), ":now": s(ts(now))},
                ScanIndexForward=True,
                Limit=10,
            ).get("Items", [])
            if not candidates:
                return None
            for key in candidates:
                run_id = run_pk_id(key[PK]["S"])
                expires = now + timedelta(seconds=ttl)
                try:
                    new = self.aws.dynamodb.update_item(
                        TableName=self._table,
                        Key=self._key(run_id),
                        UpdateExpression="SET #owner = :owner, #until = :until, #cs = :cs,"
                        " #ver = #ver + :one",
                        ConditionExpression="attribute_exists(#cp)"
                        " AND (attribute_not_exists(#until) OR #until < :now)",
                        ExpressionAttributeNames={
                            "#owner": "lease_owner",
                            "#until": "lease_until",
                            "#cp": CLAIM_PK,
                            "#cs": CLAIM_SK,
                            "#ver": "ver",
                        },
                        ExpressionAttributeValues={
                            ":owner": s(owner),
                            ":until": s(ts(expires)),
                            ":cs": s(f"{ts(expires)}#{run_id}"),
                            ":now": s(ts(now)),
                            ":one": n(1),
                        },
                        ReturnValues="ALL_NEW",
                    )["Attributes"]
                except Exception as exc:
                    if not _lost_race(exc):
                        raise
                    continue  # another claimer was first: try the next one
                try:
                    claimed = self._to_run(new)
                except ObjectGone:
                    return self._read(run_id)[1]
                self._remember(claimed, int(new["ver"]["N"]), object_of(new))
                return claimed
        return None

    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        expires = utcnow() + timedelta(seconds=ttl)
        return await self.aws.run(
            self._set_lease,
            run_id,
            owner,
            expires,
            "SET #until = :until, #cs = :cs, #ver = #ver + :one",
            {":until": s(ts(expires)), ":cs": s(f"{ts(expires)}#{run_id}")},
        )

    async def release_lease(self, run_id: str, *, owner: str) -> None:
        await self.aws.run(
            self._set_lease,
            run_id,
            owner,
            None,
            f"REMOVE #owner, #until SET #cs = {CREATED}, #ver = #ver + :one",
            {},
        )

    def _set_lease(
        self,
        run_id: str,
        owner: str,
        expires: datetime | None,
        update: str,
        values: dict[str, Any],
    ) -> bool:
        """Change the lease if ``owner`` holds it; False if not, RunNotFound if no such run."""
        try:
            changed = self.aws.dynamodb.update_item(
                TableName=self._table,
                Key=self._key(run_id),
                UpdateExpression=update,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={
                    "#owner": "lease_owner",
                    "#until": "lease_until",
                    "#cs": CLAIM_SK,
                    "#ver": "ver",
                },
                ExpressionAttributeValues={":owner": s(owner), ":one": n(1), **values},
                ReturnValues="UPDATED_NEW",
            )["Attributes"]
        except Exception as exc:
            if not _lost_race(exc):
                raise
        else:
            known = self._recall(run_id)
            ver = int(changed["ver"]["N"])
            if known is not None and known.ver == ver - 1:  # nobody wrote in between
                lease = {"lease_owner": owner if expires else None, "lease_expires_at": expires}
                self._remember(known.run.model_copy(update=lease), ver, known.obj)
            else:
                self._forget(run_id)
            return True
        self._forget(run_id)
        if not self._exists(run_id):
            raise RunNotFound(run_id)
        return False

    # ------------------------------------------------------------------ retention

    async def delete_runs(self, *, finished_before: datetime) -> int:
        """Finished runs with every item and S3 object; then the S3 objects of runs DynamoDB
        expired by TTL (see ``expiry``), if older than ``finished_before``."""
        deleted = await self.aws.run(self._delete_runs, ts(finished_before))
        swept = await self.aws.run(expiry.sweep_orphans, self.aws, finished_before)
        if swept:
            log.info("removed %d S3 object(s) of runs DynamoDB expired", swept)
        return deleted

    def _delete_runs(self, cutoff: str) -> int:
        doomed = list(
            query(
                self.aws,
                IndexName=FINISHED_INDEX,
                KeyConditionExpression="#fp = :fp AND #fs < :cut",
                ExpressionAttributeNames={"#fp": FINISHED_PK, "#fs": FINISHED_SK},
                ExpressionAttributeValues={":fp": s("finished"), ":cut": s(cutoff)},
            )
        )
        deleted = 0
        for key in doomed:
            run_id = run_pk_id(key[PK]["S"])
            try:  # only if still finished before the cutoff (a failed run may be retried)
                old = self.aws.dynamodb.delete_item(
                    TableName=self._table,
                    Key=self._key(run_id),
                    ConditionExpression="attribute_exists(#fp) AND #fs < :cut",
                    ExpressionAttributeNames={"#fp": FINISHED_PK, "#fs": FINISHED_SK},
                    ExpressionAttributeValues={":cut": s(cutoff)},
                    ReturnValues="ALL_OLD",
                )["Attributes"]
            except Exception as exc:
                if not _lost_race(exc):
                    raise
                continue
            rest = list(partition(self.aws, run_pk(run_id), keys_only=True))
            if "key_pk" in old:
                rest.append({PK: old["key_pk"], SK: s("key")})
            delete_items(self.aws, rest)
            discard(self.aws, [object_of(old), *self._objects_of(run_id)])
            self._numbers.forget(run_id)
            self._forget(run_id)
            deleted += 1
        return deleted

    def _objects_of(self, run_id: str) -> list[str | None]:
        """Every S3 object of a run, also any a crashed writer left behind."""
        prefix = self.config.object_key("runs", run_id) + "/"
        found: list[str | None] = []
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket, Prefix=prefix
        ):
            found.extend(obj["Key"] for obj in page.get("Contents", []))
        return found


def run_pk_id(pk: str) -> str:
    return pk.removeprefix("run#")


def _matches(run: RunRecord, field: str, value: Any) -> bool:
    if field == "created_by":
        return run.created_by is not None and run.created_by.username == value
    return bool(getattr(run, field) == value)
