"""S3 store retention: finished runs removed with every item and S3 object (and objects of runs
DynamoDB expired by TTL), and the namespaces' spend days."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from agent_runtime.stores.records import Spend
from agent_runtime.stores.s3 import expiry, spend
from agent_runtime.stores.s3.connection import S3Connection, lost_race, run_pk_id
from agent_runtime.stores.s3.layout import (
    FINISHED_INDEX,
    FINISHED_PK,
    FINISHED_SK,
    PK,
    SK,
    run_pk,
    s,
    ts,
)
from agent_runtime.stores.s3.payloads import discard, object_of
from agent_runtime.stores.s3.tableops import delete_items, partition, query

log = logging.getLogger(__name__)


class S3Retention(S3Connection):
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
        # only if still finished before the cutoff (a failed run may be retried)
        before = {
            "ConditionExpression": "attribute_exists(#fp) AND #fs < :cut",
            "ExpressionAttributeNames": {"#fp": FINISHED_PK, "#fs": FINISHED_SK},
            "ExpressionAttributeValues": {":cut": s(cutoff)},
        }
        return sum(self._delete_finished(run_pk_id(key[PK]["S"]), before) for key in doomed)

    async def delete_run(self, run_id: str) -> bool:
        finished = {
            "ConditionExpression": "attribute_exists(#fp)",
            "ExpressionAttributeNames": {"#fp": FINISHED_PK},
        }
        return await self.aws.run(self._delete_finished, run_id, finished)

    def _delete_finished(self, run_id: str, condition: dict[str, Any]) -> bool:
        """The run's record, if ``condition`` (a DynamoDB condition with its names and values)
        still holds of it, then every item and S3 object of the run; False when the condition
        failed or the run is gone."""
        try:
            old = self.aws.dynamodb.delete_item(
                TableName=self._table, Key=self._key(run_id), ReturnValues="ALL_OLD", **condition
            )["Attributes"]
        except Exception as exc:
            if not lost_race(exc):
                raise
            return False
        rest = list(partition(self.aws, run_pk(run_id), keys_only=True))
        if "key_pk" in old:
            rest.append({PK: old["key_pk"], SK: s("key")})
        delete_items(self.aws, rest)
        discard(self.aws, [object_of(old), *self._objects_of(run_id)])
        self._numbers.forget(run_id)
        self._forget(run_id)
        return True

    def _objects_of(self, run_id: str) -> list[str | None]:
        """Every S3 object of a run, also any a crashed writer left behind."""
        prefix = self.config.object_key("runs", run_id) + "/"
        found: list[str | None] = []
        for page in self.aws.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.config.bucket, Prefix=prefix
        ):
            found.extend(obj["Key"] for obj in page.get("Contents", []))
        return found

    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        await self.aws.run(spend.add, self.aws, namespace, tokens=tokens, cost=cost, at=at)

    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        return await self.aws.run(spend.get, self.aws, namespace, at=at)
