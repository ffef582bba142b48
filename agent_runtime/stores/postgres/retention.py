"""Postgres retention: finished runs removed with all they own, and the namespaces' spend days."""

from __future__ import annotations

from datetime import datetime

from agent_runtime.stores.counters import spend_day
from agent_runtime.stores.postgres import spend
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.schema import RUN_TABLES, utc
from agent_runtime.stores.records import RunStatus, Spend

FINISHED = tuple(s.value for s in RunStatus if s.finished)


class PostgresRetention(PostgresConnection):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        #: Each namespace's day this object last removed its old spend rows (once a day).
        self._spend_pruned: dict[str, str] = {}

    async def delete_runs(self, *, finished_before: datetime) -> int:
        async with self._connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(
                    "DELETE FROM ca_runs WHERE status = ANY(%s) AND finished_at < %s RETURNING id",
                    (list(FINISHED), utc(finished_before)),
                )
                ids = [r["id"] for r in await cur.fetchall()]
                if ids:
                    for table, column in RUN_TABLES:
                        await conn.execute(
                            f"DELETE FROM {table} WHERE {column} = ANY(%s)".encode(), (ids,)
                        )
        return len(ids)

    async def delete_run(self, run_id: str) -> bool:
        async with self._connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(
                    "DELETE FROM ca_runs WHERE id = %s AND status = ANY(%s) RETURNING id",
                    (run_id, list(FINISHED)),
                )
                if not await cur.fetchall():
                    return False
                for table, column in RUN_TABLES:
                    await conn.execute(
                        f"DELETE FROM {table} WHERE {column} = %s".encode(), (run_id,)
                    )
        return True

    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        day = spend_day(at)
        prune = self._spend_pruned.get(namespace) != day
        async with self._connection() as conn:
            await spend.add_spend(conn, namespace, tokens=tokens, cost=cost, at=at, prune=prune)
        if prune:
            self._spend_pruned[namespace] = day

    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        async with self._connection() as conn:
            return await spend.get_spend(conn, namespace, at=at)
