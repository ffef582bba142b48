"""Postgres leases: a claim is one statement (``FOR UPDATE SKIP LOCKED``), so replicas never
claim one run twice; and the rate-limit tokens they share, on the server's clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from agent_runtime.stores.errors import RunNotFound
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.schema import json_time
from agent_runtime.stores.records import RunRecord, utcnow

#: pg_advisory_xact_lock key serialising claims while a per-namespace cap holds.
CLAIM_LOCK = 0x63612D636C6D  # "ca-clm"

#: Fair across namespaces: the namespaces with queued or running runs (one index probe each,
#: a loose index scan), those holding the fewest unexpired leases first (runs some replica is
#: executing), ties taken in turn by name after the one this process claimed from last; then,
#: in that order, each namespace's oldest claimable run until one is not locked by another
#: claimer (``SKIP LOCKED``; a row that stopped qualifying while we waited for it is passed
#: over). The namespaces' order is materialised, so that only the run claimed is locked.
#: ``capped`` passes over namespaces at their cap.
CLAIM = (
    "WITH RECURSIVE ns AS ("
    " (SELECT namespace FROM ca_runs WHERE status IN ('queued', 'running')"
    " ORDER BY namespace LIMIT 1)"
    " UNION ALL SELECT (SELECT r.namespace FROM ca_runs r WHERE r.status IN ('queued', 'running')"
    " AND r.namespace > ns.namespace ORDER BY r.namespace LIMIT 1)"
    " FROM ns WHERE ns.namespace IS NOT NULL),"
    " turns AS MATERIALIZED ("
    " SELECT ns.namespace, (SELECT count(*) FROM ca_runs l WHERE l.namespace = ns.namespace"
    " AND l.status IN ('queued', 'running') AND l.lease_owner IS NOT NULL"
    " AND l.lease_expires_at >= %(now)s) AS leased"
    " FROM ns WHERE ns.namespace IS NOT NULL"
    " ORDER BY leased, ns.namespace <= %(last)s, ns.namespace),"
    " candidate AS ("
    " SELECT c.id FROM turns CROSS JOIN LATERAL ("
    " SELECT id FROM ca_runs WHERE namespace = turns.namespace"
    " AND status IN ('queued', 'running')"
    " AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s)"
    " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) c{capped} LIMIT 1)"
    " UPDATE ca_runs AS r SET lease_owner = %(owner)s, lease_expires_at = %(expires)s,"
    " record = r.record || jsonb_build_object("
    "'lease_owner', %(owner)s::text, 'lease_expires_at', %(expires_json)s::text)"
    " FROM candidate WHERE r.id = candidate.id RETURNING r.record::text AS record"
)
#: Namespaces holding ``cap`` leases already are passed over.
AT_CAP = " WHERE turns.leased < %(cap)s"
#: For the claim's transaction: walk each namespace's index in order. Without statistics (a
#: table that filled faster than autovacuum analyses it) the planner guesses that a namespace
#: holds a row or two and sorts all of its runs, or counts its leases from dead index entries
#: it never marks dead: 13 ms a claim instead of 0.2 with 10,000 queued.
WALK_INDEXES = (
    "SELECT set_config('enable_bitmapscan', 'off', true), set_config('enable_sort', 'off', true)"
)


def lease_args(owner: str, ttl: float) -> dict[str, Any]:
    """A claim's ``now``, ``owner`` and the lease's end (``expires``, and as the record's JSON)."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl)
    return {"now": now, "owner": owner, "expires": expires, "expires_json": json_time(expires)}


class PostgresLeases(PostgresConnection):
    #: The namespace this process claimed its last run from: ties go on from the next one.
    _claimed_from = ""

    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        params = {
            **lease_args(owner, ttl),
            "cap": max_per_namespace,
            "last": self._claimed_from,
        }
        async with self._connection() as conn:
            # One round trip: BEGIN, the plan settings, the claim, COMMIT, pipelined by hand.
            async with conn.pipeline():
                await conn.execute("BEGIN")
                await conn.execute(WALK_INDEXES)
                if max_per_namespace:
                    # Claims are serialised while a cap holds, so that two replicas never both
                    # take a namespace's last slot (each would count the other's claim as not
                    # there yet).
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
                capped = AT_CAP if max_per_namespace else ""
                cur = await conn.execute(CLAIM.format(capped=capped).encode(), params)
                await conn.execute("COMMIT")
            row = await cur.fetchone()
        if row is None:
            return None
        run = RunRecord.model_validate_json(row["record"])
        self._claimed_from = run.namespace
        self._remember(run)  # its start is then one statement (``records._swap``)
        return run

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
