"""SQLite leases: a claim is one write transaction, so two processes never claim one run; and
the rate-limit tokens processes on one file share."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta

from agent_runtime.stores.counters import gcra
from agent_runtime.stores.errors import LeaseLost
from agent_runtime.stores.records import RunRecord, utcnow
from agent_runtime.stores.sqlite.connection import SqliteConnection
from agent_runtime.stores.sqlite.schema import ts


def lease_held(conn: sqlite3.Connection, run_id: str, owner: str | None) -> None:
    """Inside a write transaction: raise ``LeaseLost`` unless the write is unfenced (``owner``
    None) or ``owner`` holds the run's lease, unexpired (``stores.fencing``). On the
    connection's thread (``connection.in_thread``)."""
    if owner is None:
        return
    row = conn.execute(
        "SELECT lease_owner, lease_expires_at FROM ca_runs WHERE id=?", (run_id,)
    ).fetchone()
    if row is None or row[0] != owner or (row[1] is not None and row[1] <= ts(utcnow())):
        raise LeaseLost(run_id, owner)


#: Fair across namespaces, as on Postgres (``stores/postgres/leases.py``): of the namespaces with
#: queued or running runs (a loose index scan), the one holding the fewest unexpired leases, ties
#: taken in turn by name after the one this process claimed from last; its oldest claimable run.
#: Inside the write transaction, so no other claim runs meanwhile. ``INDEXED BY``: without
#: ANALYZE's statistics the planner would sort every queued run to find the next namespace.
#: ``capped`` passes over namespaces at their cap.
CLAIM = (
    "WITH RECURSIVE ns(namespace) AS ("
    " SELECT (SELECT namespace FROM ca_runs INDEXED BY ca_runs_claimable_by_namespace"
    " WHERE status IN ('queued','running')"
    " ORDER BY namespace LIMIT 1)"
    " UNION ALL SELECT (SELECT r.namespace FROM ca_runs r INDEXED BY ca_runs_claimable_by_namespace"
    " WHERE r.status IN ('queued','running')"
    " AND r.namespace > ns.namespace ORDER BY r.namespace LIMIT 1)"
    " FROM ns WHERE ns.namespace IS NOT NULL),"
    " turns AS ("
    " SELECT ns.namespace, (SELECT count(*) FROM ca_runs l INDEXED BY ca_runs_leased"
    " WHERE l.namespace = ns.namespace"
    " AND l.status IN ('queued','running') AND l.lease_owner IS NOT NULL"
    " AND l.lease_expires_at >= :now) AS leased,"
    " (SELECT c.id FROM ca_runs c INDEXED BY ca_runs_claimable_by_namespace"
    " WHERE c.namespace = ns.namespace"
    " AND c.status IN ('queued','running')"
    " AND (c.lease_expires_at IS NULL OR c.lease_expires_at < :now)"
    " ORDER BY c.created_at, c.id LIMIT 1) AS head"
    " FROM ns WHERE ns.namespace IS NOT NULL)"
    " SELECT r.record FROM turns JOIN ca_runs r ON r.id = turns.head{capped}"
    " ORDER BY turns.leased, turns.namespace <= :last, turns.namespace LIMIT 1"
)
#: Namespaces holding ``cap`` leases already are passed over.
AT_CAP = " WHERE turns.leased < :cap"


class SqliteLeases(SqliteConnection):
    #: The namespace this process claimed its last run from: ties go on from the next one.
    _claimed_from = ""

    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        async with self._tx() as db:
            now = utcnow()  # after waiting for the write lock, which every writer takes
            # A queued run someone already claimed is not handed out again until its lease expires.
            async with db.execute(
                CLAIM.format(capped=AT_CAP if max_per_namespace else ""),
                {"now": ts(now), "last": self._claimed_from, "cap": max_per_namespace},
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            run = RunRecord.model_validate_json(row[0]).model_copy(
                update={"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=ttl)}
            )
            await self._write_run(run)
        self._claimed_from = run.namespace
        return run

    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        async with self._tx():
            run = await self._read(run_id)
            if run.lease_owner != owner:
                return False
            await self._write_run(
                run.model_copy(update={"lease_expires_at": utcnow() + timedelta(seconds=ttl)})
            )
        return True

    async def release_lease(self, run_id: str, *, owner: str) -> None:
        async with self._tx():
            run = await self._read(run_id)
            if run.lease_owner == owner:
                released = run.model_copy(update={"lease_owner": None, "lease_expires_at": None})
                await self._write_run(released)

    async def take_token(self, key: str, *, rate: float, burst: int) -> float:
        async with self._tx() as db:
            async with db.execute("SELECT tat FROM ca_rate_limits WHERE key = ?", (key,)) as cur:
                row = await cur.fetchone()
            tat, wait = gcra(row[0] if row else None, time.time(), rate=rate, burst=burst)
            if tat is not None:
                await db.execute(
                    "INSERT INTO ca_rate_limits (key, tat) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                    (key, tat),
                )
        return wait
