"""S3 store leases: a claim, a renewal and a release are conditional updates of the run item,
so two gateways never both hold a run; and the rate-limit tokens replicas share."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from agent_runtime.stores.counters import gcra
from agent_runtime.stores.errors import RunNotFound, StoreError
from agent_runtime.stores.records import RunRecord, utcnow
from agent_runtime.stores.s3.connection import S3Connection, lost_race, run_pk_id
from agent_runtime.stores.s3.layout import (
    CLAIM_INDEX,
    CLAIM_PK,
    CLAIM_SK,
    CREATED,
    PK,
    SK,
    esc,
    n,
    s,
    ts,
)
from agent_runtime.stores.s3.payloads import ObjectGone, object_of


class S3Leases(S3Connection):
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
                if not lost_race(exc):
                    raise
                continue  # another replica took a token meanwhile: count again
            return 0.0
        raise StoreError(f"rate limit {key!r}: too much contention")

    def _claim(self, owner: str, ttl: float) -> RunRecord | None:
        """The oldest claimable run of any namespace: the claim index is one partition ordered
        by when runs became claimable, so claims are not fair across namespaces here (they
        are on SQLite and Postgres); that would need the index partitioned by namespace."""
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
                    if not lost_race(exc):
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
            if not lost_race(exc):
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
