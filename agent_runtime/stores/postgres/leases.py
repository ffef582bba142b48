"""Postgres leases: a claim is one statement (``FOR UPDATE SKIP LOCKED``), so replicas never
claim one run twice; and the rate-limit tokens they share, on the server's clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from agent_runtime.stores.errors import RunNotFound
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.schema import json_time
from agent_runtime.stores.records import RunRecord, utcnow

#: pg_advisory_xact_lock key serialising claims while a per-namespace cap holds.
CLAIM_LOCK = 0x63612D636C6D  # "ca-clm"

#: Rows another claimer has locked are skipped; a row that stopped qualifying while we waited
#: for it is re-checked and passed over for the next one. ``capped`` narrows the candidates.
CLAIM = (
    "WITH candidate AS ("
    " SELECT id FROM ca_runs WHERE status IN ('queued', 'running')"
    " AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s){capped}"
    " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " UPDATE ca_runs AS r SET lease_owner = %(owner)s, lease_expires_at = %(expires)s,"
    " record = r.record || jsonb_build_object("
    "'lease_owner', %(owner)s::text, 'lease_expires_at', %(expires_json)s::text)"
    " FROM candidate WHERE r.id = candidate.id RETURNING r.record::text AS record"
)
#: Namespaces holding ``cap`` leases already (runs some replica is executing).
AT_CAP = (
    " AND namespace NOT IN (SELECT namespace FROM ca_runs"
    " WHERE status IN ('queued', 'running') AND lease_owner IS NOT NULL"
    " AND lease_expires_at >= %(now)s GROUP BY namespace HAVING count(*) >= %(cap)s)"
)


class PostgresLeases(PostgresConnection):
    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        now = utcnow()
        expires = now + timedelta(seconds=ttl)
        params = {
            "now": now,
            "owner": owner,
            "expires": expires,
            "expires_json": json_time(expires),
            "cap": max_per_namespace,
        }
        async with self._connection() as conn:
            if not max_per_namespace:
                cur = await conn.execute(CLAIM.format(capped="").encode(), params)
                row = await cur.fetchone()
            else:
                # Claims are serialised while a cap holds, so that two replicas never both take
                # a namespace's last slot (each would count the other's claim as not there yet).
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
                    cur = await conn.execute(CLAIM.format(capped=AT_CAP).encode(), params)
                    row = await cur.fetchone()
        return RunRecord.model_validate_json(row["record"]) if row else None

    async def take_token(self, key: str, *, rate: float, burst: int) -> float:
        # The server's clock, so that every replica counts time the same way.
        interval, tau = 1.0 / rate, (burst - 1) / rate
        async with self._connection() as conn:
            cur = await conn.execute(
                "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t)"
                " INSERT INTO ca_rate_limits AS l (key, tat) SELECT %(key)s, t + %(i)s FROM now"
                " ON CONFLICT (key) DO UPDATE SET tat = GREATEST(l.tat, (SELECT t FROM now))"
                " + %(i)s WHERE GREATEST(l.tat, (SELECT t FROM now)) - (SELECT t FROM now)"
                " <= %(tau)s + 1e-9"
                " RETURNING 0.0::float8 AS wait",
                {"key": key, "i": interval, "tau": tau},
            )
            if await cur.fetchone() is not None:
                return 0.0
            cur = await conn.execute(
                "SELECT tat - extract(epoch FROM clock_timestamp())::float8 - %s AS wait"
                " FROM ca_rate_limits WHERE key = %s",
                (tau, key),
            )
            row = await cur.fetchone()
        return max(float(row["wait"]) if row else 0.0, 0.001)

    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        expires = utcnow() + timedelta(seconds=ttl)
        return await self._set_lease(run_id, owner=owner, expires=expires, new_owner=owner)

    async def release_lease(self, run_id: str, *, owner: str) -> None:
        await self._set_lease(run_id, owner=owner, expires=None, new_owner=None)

    async def _set_lease(
        self, run_id: str, *, owner: str, expires: datetime | None, new_owner: str | None
    ) -> bool:
        """Change the lease if ``owner`` holds it; False if not, RunNotFound if no such run."""
        async with self._connection() as conn:
            cur = await conn.execute(
                "UPDATE ca_runs SET lease_owner = %(new_owner)s, lease_expires_at = %(expires)s,"
                " record = record || jsonb_build_object("
                "'lease_owner', %(new_owner)s::text, 'lease_expires_at', %(expires_json)s::text)"
                " WHERE id = %(id)s AND lease_owner = %(owner)s RETURNING 1 AS ok",
                {
                    "id": run_id,
                    "owner": owner,
                    "new_owner": new_owner,
                    "expires": expires,
                    "expires_json": json_time(expires),
                },
            )
            if await cur.fetchone():
                return True
            cur = await conn.execute("SELECT 1 AS ok FROM ca_runs WHERE id = %s", (run_id,))
            if await cur.fetchone() is None:
                raise RunNotFound(run_id)
        return False
