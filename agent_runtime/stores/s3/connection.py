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
import threading
from abc import abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from agent_runtime.stores.base import RunStore
from agent_runtime.stores.errors import RunNotFound, StoreError
from agent_runtime.stores.records import RunRecord
from agent_runtime.stores.s3 import expiry, schema
from agent_runtime.stores.s3.aws import Aws, error_code
from agent_runtime.stores.s3.config import parse_s3_url
from agent_runtime.stores.s3.layout import (
    PK,
    RUN_SK,
    SK,
    TTL_ATTRIBUTE,
    index_attributes,
    key_pk,
    n,
    run_pk,
    s,
    ts,
)
from agent_runtime.stores.s3.outbox import StepOutbox
from agent_runtime.stores.s3.payloads import ObjectGone, object_of, pack, unpack
from agent_runtime.stores.s3.transact import EventNumbers

if TYPE_CHECKING:
    from agent_runtime.stores.s3.checkpoints import DynamoSaver

#: The lease lives in item attributes beside the record, so renewals write no document.
LEASE_FIELDS = {"lease_owner", "lease_expires_at"}
#: Optimistic writes give up after this many lost races (a run hammered by writers).
TRIES = 50
#: Run records this process last read or wrote, to move them on without reading (bounded).
KNOWN_RUNS = 4096
CONDITION_FAILED = ("ConditionalCheckFailedException", "TransactionCanceledException")


def lost_race(exc: BaseException) -> bool:
    return error_code(exc) in CONDITION_FAILED


@dataclass(frozen=True)
class KnownRun:
    """A run record as its item holds it at version ``ver`` (``obj``: its S3 object, if any)."""

    ver: int
    run: RunRecord
    obj: str | None


def run_pk_id(pk: str) -> str:
    return pk.removeprefix("run#")


class S3Connection(RunStore):
    """What every concern of the S3 store stands on: the clients, run items and known runs."""

    defers_steps = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = parse_s3_url(url)
        self._aws: Aws | None = None
        self._saver: DynamoSaver | None = None
        self._numbers = EventNumbers()
        self._outbox = StepOutbox()
        self._known: OrderedDict[str, KnownRun] = OrderedDict()
        self._known_lock = threading.Lock()

    @abstractmethod
    def _new_saver(self) -> DynamoSaver: ...

    async def open(self) -> None:
        aws = Aws(self.config)
        try:
            await aws.run_doing("cannot open", lambda: schema.check(aws))
        except BaseException:
            await asyncio.to_thread(aws.close)
            raise
        self._aws = aws
        self._saver = self._new_saver()

    async def init(self) -> list[str]:
        """Create the table (with its indexes and TTL) and the bucket, if missing."""
        aws = Aws(self.config)
        try:
            return await aws.run_doing("cannot create", lambda: schema.create(aws))
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
            self._known[run.id] = KnownRun(ver, run, obj)
            self._known.move_to_end(run.id)
            while len(self._known) > KNOWN_RUNS:
                self._known.popitem(last=False)

    def _recall(self, run_id: str) -> KnownRun | None:
        with self._known_lock:
            return self._known.get(run_id)

    def _forget(self, run_id: str) -> None:
        with self._known_lock:
            self._known.pop(run_id, None)

    def _exists(self, run_id: str) -> bool:
        got = self.aws.dynamodb.get_item(
            TableName=self._table,
            Key=self._key(run_id),
            ConsistentRead=True,
            ProjectionExpression="#pk",
            ExpressionAttributeNames={"#pk": PK},
        )
        return "Item" in got
