"""SQLite retention: finished runs removed with all they own, and the namespaces' spend days."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from agent_runtime.stores.counters import spend_cutoff, spend_day
from agent_runtime.stores.records import Amount, RunRecord, Spend
from agent_runtime.stores.sqlite.connection import SqliteConnection
from agent_runtime.stores.sqlite.schema import RUN_TABLES


class SqliteRetention(SqliteConnection):
    def __init__(self, path: Path, *, url: str = "") -> None:
        super().__init__(path, url=url)
        #: The day this object last removed spend counters past ``SPEND_KEPT`` (once a day).
        self._spend_pruned = ""

    async def delete_runs(self, *, finished_before: datetime) -> int:
        async with self._tx() as db:
            async with db.execute(
                "SELECT id, record FROM ca_runs WHERE status IN ('succeeded','failed','cancelled')"
            ) as cur:
                rows = await cur.fetchall()
            ids = [
                r[0]
                for r in rows
                if (f := RunRecord.model_validate_json(r[1]).finished_at) and f < finished_before
            ]
            for run_id in ids:
                await db.execute("DELETE FROM ca_runs WHERE id=?", (run_id,))
                for table, column in RUN_TABLES:
                    await db.execute(f"DELETE FROM {table} WHERE {column}=?", (run_id,))
        return len(ids)

    async def delete_run(self, run_id: str) -> bool:
        async with self._tx() as db:
            cur = await db.execute(
                "DELETE FROM ca_runs WHERE id=? AND status IN ('succeeded','failed','cancelled')",
                (run_id,),
            )
            if cur.rowcount != 1:
                return False
            for table, column in RUN_TABLES:
                await db.execute(f"DELETE FROM {table} WHERE {column}=?", (run_id,))
        return True

    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        day = spend_day(at)
        async with self._tx() as db:
            await db.execute(
                "INSERT INTO ca_spend (namespace, day, tokens, cost) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (namespace, day) DO UPDATE SET tokens = tokens + excluded.tokens,"
                " cost = cost + excluded.cost",
                (namespace, day, tokens, cost),
            )
            if self._spend_pruned != day:
                await db.execute("DELETE FROM ca_spend WHERE day < ?", (spend_cutoff(at),))
                self._spend_pruned = day

    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        day = spend_day(at)
        async with self._conn.execute(
            "SELECT day, tokens, cost FROM ca_spend WHERE namespace = ? AND day BETWEEN ? AND ?",
            (namespace, f"{day[:7]}-01", f"{day[:7]}-31"),
        ) as cur:
            rows = list(await cur.fetchall())
        today = [Amount(tokens=r[1], cost=r[2]) for r in rows if r[0] == day]
        return Spend(
            day=today[0] if today else Amount(),
            month=Amount(tokens=sum(r[1] for r in rows), cost=sum(r[2] for r in rows)),
        )
