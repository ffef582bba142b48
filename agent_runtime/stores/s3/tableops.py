"""Paged queries, batched reads and deletes on the store's table (sync; run on the pool)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.layout import PK, SK
from agent_runtime.stores.s3.payloads import DOC_S3, discard

#: Rounds of retrying the unprocessed part of a batch (throttling) before giving up.
BATCH_ROUNDS = 8


def query(aws: Aws, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a query, page after page, lazily."""
    args = {"TableName": aws.url.table, **kwargs}
    while True:
        page = aws.dynamodb.query(**args)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def partition(aws: Aws, pk: str, prefix: str = "", *, keys_only: bool = False) -> Iterator[Any]:
    """The items of one partition whose sort key starts with ``prefix``, in sort-key order."""
    condition = "#pk = :pk"
    values: dict[str, Any] = {":pk": {"S": pk}}
    if prefix:
        condition += " AND begins_with(#sk, :prefix)"
        values[":prefix"] = {"S": prefix}
    extra: dict[str, Any] = {}
    if keys_only:
        extra["ProjectionExpression"] = "#pk, #sk, #obj"
    names = {"#pk": PK, "#sk": SK} if prefix or keys_only else {"#pk": PK}
    if keys_only:
        names["#obj"] = DOC_S3
    return query(
        aws,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
        **extra,
    )


def batch_get(aws: Aws, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items by key (consistent reads), in no particular order; missing ones are left out."""
    found: list[dict[str, Any]] = []
    for i in range(0, len(keys), 100):
        batch = {aws.url.table: {"Keys": keys[i : i + 100], "ConsistentRead": True}}
        for page in _until_done(aws.dynamodb.batch_get_item, batch, "UnprocessedKeys", "read"):
            found.extend(page.get("Responses", {}).get(aws.url.table, []))
    return found


def delete_items(aws: Aws, items: list[dict[str, Any]]) -> None:
    """Delete items (by their keys) and the S3 objects they point to."""
    _batch_write(aws, [{"DeleteRequest": {"Key": {PK: it[PK], SK: it[SK]}}} for it in items])
    discard(aws, [it[DOC_S3]["S"] for it in items if DOC_S3 in it])


def put_items(aws: Aws, items: list[dict[str, Any]]) -> None:
    """Write items, 25 a request (not atomic: for copies)."""
    _batch_write(aws, [{"PutRequest": {"Item": item}} for item in items])


def _batch_write(aws: Aws, requests: list[dict[str, Any]]) -> None:
    for i in range(0, len(requests), 25):
        batch = {aws.url.table: requests[i : i + 25]}
        _until_done(aws.dynamodb.batch_write_item, batch, "UnprocessedItems", "write")


def _until_done(
    send: Callable[..., dict[str, Any]], batch: dict[str, Any], left: str, doing: str
) -> list[dict[str, Any]]:
    """Send a batch, then what DynamoDB left of it unprocessed (under ``left``: it throttled),
    backing off, until none is left; every answer."""
    pages = []
    for attempt in range(BATCH_ROUNDS):
        page = send(RequestItems=batch)
        pages.append(page)
        batch = page.get(left) or {}
        if not batch:
            return pages
        time.sleep(0.05 * 2**attempt)
    raise StoreError(f"DynamoDB kept throttling a batch {doing}; try again")
