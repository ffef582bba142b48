"""SQLite leases: a claim is one write transaction, so two processes never claim one run; and
the rate-limit tokens processes on one file share."""

from __future__ import annotations

import time
from datetime import timedelta

import aiosqlite

from agent_runtime.stores.counters import gcra
from agent_runtime.stores.errors import LeaseLost
from agent_runtime.stores.records import RunRecord, utcnow
from agent_runtime.stores.sqlite.connection import SqliteConnection
from agent_runtime.stores.sqlite.schema import ts


async def check_lease(db: aiosqlite.Connection, run_id: str, owner: str | None) -> None:
    """Inside a write transaction: raise ``LeaseLost`` unless the write is unfenced (``owner``
    None) or ``owner`` holds the run's lease, unexpired (``stores.fencing``)."""
    if owner is None:
        return
    async with db.execute(
        "SELECT lease_owner, lease_expires_at FROM ca_runs WHERE id=?", (run_id,)
    ) as cur:
        row = await cur.fetchone()
    if row is None or row[0] != owner or (row[1] is not None and row[1] <= ts(utcnow())):
        raise LeaseLost(run_id, owner)


class SqliteLeases(SqliteConnection):
    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        async with self._tx() as db:
            now = utcnow()  # after waiting for the write lock, which every writer takes
            # A queued run someone already claimed is not handed out again until its lease expires.
            capped, args = "", [ts(now)]  # type: tuple[str, list[object]]
            if max_per_namespace:
                capped = (
                    " AND namespace NOT IN (SELECT namespace FROM ca_runs"
                    " WHERE status IN ('queued','running') AND lease_owner IS NOT NULL"
                    " AND lease_expires_at >= ? GROUP BY namespace HAVING count(*) >= ?)"
                )
                args += [ts(now), max_per_namespace]
            async with db.execute(
                "SELECT record FROM ca_runs WHERE status IN ('queued','running')"
                " AND (lease_expires_at IS NULL OR lease_expires_at < ?)"
                f"{capped} ORDER BY created_at, id LIMIT 1",
                args,
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                return None
            run = RunRecord.model_validate_json(row[0]).model_copy(
                update={"lease_owner": owner, "lease_expires_at": now + timedelta(seconds=ttl)}
            )
            await self._write_run(run)
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
