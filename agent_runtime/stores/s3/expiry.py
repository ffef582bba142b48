"""Retention on DynamoDB and S3: every item of a finished run expires with it, and ``runs prune``
removes the S3 objects of runs DynamoDB has expired.

With ``retention=`` in the URL, the run record gets the TTL attribute when the run finishes, in
the transaction of that transition, and so does every other item of the run (steps, events,
checkpoints, task writes, its idempotency key): one keys-only query of the run's partition and
``Update`` items in that same transaction (100 items a transaction). That is the fewest requests:
one query per finished run, and no transaction more unless the run has over 98 items. Writing a
TTL on every item from the start cannot work, since nobody knows when a run will finish (a run
may wait days at a human node), and refreshing one would cost a write per item per step. A run
that goes on after failing has the attribute removed from its items the same way.

S3 objects (only documents over the item limit have one) cannot expire by a lifecycle rule: S3
counts an object's age from its creation, so a rule would delete the checkpoint of a run waiting
at a human node longer than the retention. They are deleted by ``runs prune`` instead: with the
run when it prunes a run, and, for runs DynamoDB has expired meanwhile, by a sweep of the run
folders (``prefix/runs/<run id>/``) whose run has no item left.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agent_runtime.stores.records import RunRecord
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.layout import PK, RUN_SK, SK, TTL_ATTRIBUTE, n, run_pk, s
from agent_runtime.stores.s3.payloads import discard
from agent_runtime.stores.s3.tableops import batch_get, partition
from agent_runtime.stores.s3.transact import Kind, Op


def expires_at(run: RunRecord, retention: timedelta | None) -> int | None:
    """The TTL of a run's items: when it finished plus the retention; None while it lives."""
    if retention is None or not run.status.finished or run.finished_at is None:
        return None
    return int((run.finished_at + retention).timestamp())


def ttl_ops(aws: Aws, run: RunRecord, key_pk: dict[str, Any] | None, ttl: int | None) -> list[Op]:
    """Updates setting (or, with ``ttl`` None, removing) the TTL of every item of a run but its
    record; each only if the item still exists."""
    keys = [
        {PK: it[PK], SK: it[SK]}
        for it in partition(aws, run_pk(run.id), keys_only=True)
        if it[SK]["S"] != RUN_SK
    ]
    if key_pk is not None:
        keys.append({PK: key_pk, SK: s("key")})
    update: dict[str, Any] = {
        "ConditionExpression": "attribute_exists(#pk)",
        "ExpressionAttributeNames": {"#pk": PK, "#ttl": TTL_ATTRIBUTE},
    }
    if ttl is None:
        update["UpdateExpression"] = "REMOVE #ttl"
    else:
        update["UpdateExpression"] = "SET #ttl = :ttl"
        update["ExpressionAttributeValues"] = {":ttl": n(ttl)}
    return [
        Op(Kind.OPTIONAL, {"Update": {"TableName": aws.url.table, "Key": key, **update}})
        for key in keys
    ]


def sweep_orphans(aws: Aws, older_than: datetime) -> int:
    """Delete the S3 objects, written before ``older_than``, of runs with no item left in
    DynamoDB (expired by TTL); returns how many. Cost: a listing per 1000 run folders, a batch
    read per 100, and a query and a listing per folder whose run record is gone."""
    root = aws.url.object_key("runs") + "/"
    folders: list[str] = []
    for page in aws.s3.get_paginator("list_objects_v2").paginate(
        Bucket=aws.url.bucket, Prefix=root, Delimiter="/"
    ):
        folders.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
    ids = {folder[len(root) : -1]: folder for folder in folders}
    present: set[str] = set()
    keys = [{PK: s(run_pk(run_id)), SK: s(RUN_SK)} for run_id in ids]
    for item in batch_get(aws, keys):
        present.add(item[PK]["S"].removeprefix("run#"))
    removed = 0
    for run_id, folder in ids.items():
        if run_id in present or next(iter(partition(aws, run_pk(run_id), keys_only=True)), None):
            continue  # a live run, or one whose items DynamoDB has not all expired yet
        doomed: list[str | None] = []
        for page in aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=aws.url.bucket, Prefix=folder
        ):
            doomed.extend(
                obj["Key"] for obj in page.get("Contents", []) if obj["LastModified"] < older_than
            )
        discard(aws, doomed)
        removed += len(doomed)
    return removed
