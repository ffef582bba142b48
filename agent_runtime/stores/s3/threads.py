"""S3 store threads: one versioned item each, and its runs as items of its partition.

| partition | sort key | item |
| --- | --- | --- |
| ``thread#<id>`` | ``thread`` | the record (``doc``, or ``doc_s3`` when large), ``ver`` |
| ``thread#<id>`` | ``run#<UTC time>#<run id>`` | one run (or copied history), in order |
| ``thread#<id>`` | ``rid#<run id>`` | where that run is in the order (``at``) |

A run claims its thread in the transaction that creates it, over the thread's version; its
transitions update the thread in their own transaction (an ``Update``, so a finished run's TTL
never reaches the thread). Searches query the keys-only listing indexes under partitions no run
uses (``all_pk = #threads``; ``nswf_pk = <namespace>/#threads``: no workflow is named ``#...``),
sorted by update time, then read the items by batches of 100: a metadata or status filter reads
every thread of the namespaces searched until the page is full (no index holds metadata).
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

from agent_runtime.stores.base import ThreadChange
from agent_runtime.stores.errors import StoreError, ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import Actor, RunRecord, ThreadRecord
from agent_runtime.stores.s3 import transact
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.connection import TRIES, S3Connection, lost_race
from agent_runtime.stores.s3.layout import CREATED, INLINE_LIMIT, LIST_INDEXES, PK, SK, n, s, ts
from agent_runtime.stores.s3.layout import run_pk as run_partition
from agent_runtime.stores.s3.payloads import DOC, DOC_S3, discard, object_of, unpack
from agent_runtime.stores.s3.tableops import batch_get, delete_items, partition, put_items, query
from agent_runtime.stores.s3.transact import Kind, Op
from agent_runtime.stores.thread_rules import (
    ThreadQuery,
    after_move,
    claim,
    copied_run_id,
    copy_of,
    deletable,
    erasable,
    matches,
    promoted,
)

THREAD_SK = "thread"
ALL_THREADS = "#threads"
_ALL_INDEX, _ALL_PK, _ = LIST_INDEXES[()]
_NS_INDEX, _NS_PK, _ = LIST_INDEXES[("namespace", "workflow")]


def thread_pk(thread_id: str) -> str:
    return f"thread#{thread_id}"


def thread_key(thread_id: str) -> dict[str, Any]:
    return {PK: s(thread_pk(thread_id)), SK: s(THREAD_SK)}


def link_items(thread_id: str, at: str, run_id: str) -> list[dict[str, Any]]:
    """The two items placing a run in its thread's order."""
    pk = s(thread_pk(thread_id))
    return [
        {PK: pk, SK: s(f"run#{at}#{run_id}"), "run_id": s(run_id)},
        {PK: pk, SK: s(f"rid#{run_id}"), "at": s(at)},
    ]


def attributes(aws: Aws, thread: ThreadRecord) -> dict[str, Any]:
    """The thread's item attributes but its key and version (its document in S3 if large)."""
    data = thread.model_dump_json().encode()
    attrs: dict[str, Any] = {
        _ALL_PK: s(ALL_THREADS),
        _NS_PK: s(f"{thread.namespace}/{ALL_THREADS}"),
        CREATED: s(f"{ts(thread.updated_at)}#{thread.id}"),
    }
    if len(data) <= INLINE_LIMIT:
        attrs[DOC] = {"B": data}
    else:
        key = aws.url.object_key("threads", thread.id, uuid.uuid4().hex)
        aws.s3.put_object(Bucket=aws.url.bucket, Key=key, Body=data)
        attrs[DOC_S3] = s(key)
    return attrs


def versioned_update(aws: Aws, thread: ThreadRecord, ver: int) -> Op:
    """The thread written over version ``ver`` (an Update: no TTL is ever put on it)."""
    attrs = {**attributes(aws, thread), "ver": n(ver + 1)}
    names = {f"#a{i}": name for i, name in enumerate(attrs)}
    values = {f":a{i}": value for i, value in enumerate(attrs.values())}
    sets = ", ".join(f"#a{i} = :a{i}" for i in range(len(attrs)))
    gone = DOC_S3 if DOC in attrs else DOC
    return Op(
        Kind.VERSIONED,
        {
            "Update": {
                "TableName": aws.url.table,
                "Key": thread_key(thread.id),
                "UpdateExpression": f"SET {sets} REMOVE #gone",
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {**names, "#gone": gone, "#v": "ver"},
                "ExpressionAttributeValues": {**values, ":v": n(ver)},
            }
        },
        [object_of(attrs)],
    )


def read_thread(aws: Aws, thread_id: str) -> tuple[int, ThreadRecord, str | None]:
    """The thread's version, record and S3 object (consistent read)."""
    got = aws.dynamodb.get_item(
        TableName=aws.url.table, Key=thread_key(thread_id), ConsistentRead=True
    )
    if "Item" not in got:
        raise ThreadNotFound(thread_id)
    item = got["Item"]
    record = ThreadRecord.model_validate_json(unpack(aws, item))
    return int(item["ver"]["N"]), record, object_of(item)


def claim_ops(aws: Aws, run: RunRecord, *, enqueue: bool) -> tuple[list[Op], str | None, RunRecord]:
    """What creating a run on its thread adds to the run's transaction, the S3 object of the
    thread's version it replaces, and the run to put (parked when queued on the thread)."""
    assert run.thread_id is not None
    ver, thread, obj = read_thread(aws, run.thread_id)
    held, created = claim(thread, run, enqueue=enqueue)
    links = link_items(held.id, ts(run.created_at), run.id)
    puts = [Op(Kind.PUT, transact.put(aws.url.table, item)) for item in links]
    return [versioned_update(aws, held, ver), *puts], obj, created


def settle_ops(
    aws: Aws, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
) -> tuple[list[Op], str | None, str | None]:
    """What a run's transition does to its thread, as entries of its transaction; the S3
    object it replaces, and the queued run it hands the thread to (to unpark in it too)."""
    if after.thread_id is None:
        return [], None, None
    try:
        ver, thread, obj = read_thread(aws, after.thread_id)
    except ThreadNotFound:
        return [], None, None  # deleted with the run still interrupted on it
    moved = after_move(thread, before, after, values)
    if moved is None:
        return [], None, None
    return [versioned_update(aws, moved, ver)], obj, promoted(thread, moved)


class S3Threads(S3Connection):
    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        return await self.aws.run(self._put_new, thread)

    def _put_new(self, thread: ThreadRecord) -> ThreadRecord:
        item = {**thread_key(thread.id), "ver": n(1), **attributes(self.aws, thread)}
        try:
            self.aws.dynamodb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": PK},
            )
        except Exception as exc:
            discard(self.aws, [object_of(item)])
            if lost_race(exc):
                raise ThreadConflict(thread.id, "already exists") from None
            raise
        return thread

    async def get_thread(self, thread_id: str) -> ThreadRecord:
        return (await self.aws.run(read_thread, self.aws, thread_id))[1]

    async def _search_threads(self, query: ThreadQuery) -> list[ThreadRecord]:
        return await self.aws.run(self._search, query)

    def _search(self, query: ThreadQuery) -> list[ThreadRecord]:
        if query.namespaces is None:
            keys = self._keys(_ALL_INDEX, _ALL_PK, ALL_THREADS)
        else:
            streams = [
                self._keys(_NS_INDEX, _NS_PK, f"{ns}/{ALL_THREADS}")
                for ns in dict.fromkeys(query.namespaces)
            ]
            keys = heapq.merge(*streams, key=lambda k: k[CREATED]["S"], reverse=True)
        found: list[ThreadRecord] = []
        skip = query.offset
        while len(found) < query.limit:
            batch = list(islice(keys, 100))
            if not batch:
                break
            items = {
                it[PK]["S"]: it
                for it in batch_get(self.aws, [{PK: k[PK], SK: k[SK]} for k in batch])
            }
            for key in batch:
                item = items.get(key[PK]["S"])
                if item is None:  # deleted since the index saw it
                    continue
                thread = ThreadRecord.model_validate_json(unpack(self.aws, item))
                if not matches(thread, query):
                    continue
                if skip:
                    skip -= 1
                elif len(found) < query.limit:
                    found.append(thread)
        return found

    def _keys(self, index: str, attribute: str, value: str) -> Iterator[dict[str, Any]]:
        return query(
            self.aws,
            IndexName=index,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": attribute},
            ExpressionAttributeValues={":p": s(value)},
            ScanIndexForward=False,
        )

    async def _update_thread(self, thread_id: str, change: ThreadChange) -> ThreadRecord:
        return await self.aws.run(self._update, thread_id, change)

    def _update(self, thread_id: str, change: ThreadChange) -> ThreadRecord:
        for _ in range(TRIES):
            ver, thread, obj = read_thread(self.aws, thread_id)
            new = change(thread)
            op = versioned_update(self.aws, new, ver)
            try:
                self.aws.dynamodb.update_item(**op.request["Update"])
            except Exception as exc:
                discard(self.aws, op.objects)
                if lost_race(exc):
                    continue
                raise
            discard(self.aws, [obj])
            return new
        raise StoreError(f"thread {thread_id!r} keeps changing; try again")

    async def delete_thread(self, thread_id: str) -> None:
        await self.aws.run(self._delete, thread_id)

    def _delete(self, thread_id: str) -> None:
        for _ in range(TRIES):
            ver, thread, obj = read_thread(self.aws, thread_id)
            deletable(thread)
            try:  # first the thread, so that no run claims it meanwhile
                self.aws.dynamodb.delete_item(
                    TableName=self._table,
                    Key=thread_key(thread_id),
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={"#v": "ver"},
                    ExpressionAttributeValues={":v": n(ver)},
                )
            except Exception as exc:
                if lost_race(exc):
                    continue
                raise
            break
        else:
            raise StoreError(f"thread {thread_id!r} keeps changing; try again")
        rest = list(partition(self.aws, thread_pk(thread_id)))
        for item in rest:
            if "run_id" in item:
                self._delete_run(item["run_id"]["S"])
        delete_items(self.aws, rest)
        discard(self.aws, [obj])

    def _delete_run(self, run_id: str) -> None:
        """A run with every item and S3 object (its idempotency key item too)."""
        items = list(partition(self.aws, run_partition(run_id)))
        keys = [{PK: it["key_pk"], SK: s("key")} for it in items if "key_pk" in it]
        delete_items(self.aws, [*items, *keys])
        prefix = self.config.object_key("runs", run_id) + "/"
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket, Prefix=prefix
        ):
            discard(self.aws, [o["Key"] for o in page.get("Contents", [])])
        self._numbers.forget(run_id)
        self._forget(run_id)

    async def erase_run(self, run_id: str) -> None:
        await self.aws.run(self._erase, run_id)

    def _erase(self, run_id: str) -> None:
        run = self._read(run_id)[1]
        erasable(run)
        assert run.thread_id is not None
        pk = s(thread_pk(run.thread_id))
        got = self.aws.dynamodb.get_item(
            TableName=self._table, Key={PK: pk, SK: s(f"rid#{run_id}")}, ConsistentRead=True
        )
        links = [{PK: pk, SK: s(f"rid#{run_id}")}]
        if "Item" in got:
            links.append({PK: pk, SK: s(f"run#{got['Item']['at']['S']}#{run_id}")})
        delete_items(self.aws, links)
        self._delete_run(run_id)

    async def copy_thread(
        self, thread_id: str, new_id: str, *, created_by: Actor | None = None
    ) -> ThreadRecord:
        source = await self.get_thread(thread_id)
        links = await self.aws.run(lambda: list(partition(self.aws, thread_pk(thread_id), "run#")))
        copy = await self.create_thread(copy_of(source, new_id, created_by))
        saver = self.checkpointer()
        for link in links:
            run_id, at = link["run_id"]["S"], link[SK]["S"].split("#")[1]
            target = copied_run_id(new_id, run_id)
            await saver.acopy_thread(run_id, target)
            await self.aws.run(put_items, self.aws, link_items(new_id, at, target))
        return copy

    async def _thread_runs(
        self, thread_id: str, limit: int, before: str | None, inclusive: bool = False
    ) -> list[str]:
        return await self.aws.run(self._runs, thread_id, limit, before, inclusive)

    def _runs(self, thread_id: str, limit: int, before: str | None, inclusive: bool) -> list[str]:
        pk = thread_pk(thread_id)
        bound = "run$"  # after every run# key
        if before is not None:
            got = self.aws.dynamodb.get_item(
                TableName=self._table, Key={PK: s(pk), SK: s(f"rid#{before}")}, ConsistentRead=True
            )
            if "Item" not in got:
                return []  # not a run of this thread
            bound = f"run#{got['Item']['at']['S']}#{before}"
        page = self.aws.dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={":pk": s(pk), ":lo": s("run#"), ":hi": s(bound)},
            ScanIndexForward=False,
            ConsistentRead=True,
            Limit=limit + 1,
        )
        ids = [
            it["run_id"]["S"] for it in page.get("Items", []) if inclusive or it[SK]["S"] != bound
        ]
        return ids[:limit]
