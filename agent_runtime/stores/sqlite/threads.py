"""SQLite threads: records in ``ca_threads``, their runs in ``ca_thread_runs`` (the shared
``sql.threads``); a run claims its thread, and lets it go, inside the write transaction of its
own record."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from agent_runtime.stores.records import RunRecord
from agent_runtime.stores.sql.dialect import SQLITE
from agent_runtime.stores.sql.threads import SqlThreads, Statements
from agent_runtime.stores.sqlite.connection import SqliteConnection
from agent_runtime.stores.sqlite.schema import RUN_TABLES
from agent_runtime.stores.thread_rules import unparked

SQL = Statements(SQLITE)


class SqliteTx:
    """The aiosqlite connection as the shared thread code uses it (each cursor closed at once)."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self.db.execute(sql, args) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    async def run(self, sql: str, args: Sequence[Any]) -> int:
        async with self.db.execute(sql, args) as cur:
            return cur.rowcount


async def claim_thread(db: aiosqlite.Connection, run: RunRecord, *, enqueue: bool) -> RunRecord:
    """Hold the run's thread for it, or queue it there (inside the write transaction creating
    the run); the run to insert."""
    assert run.thread_id is not None
    tx = SqliteTx(db)
    return await SQL.hold(tx, await SQL.read(tx, run.thread_id), run, enqueue=enqueue)


async def settle_thread(
    db: aiosqlite.Connection, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
) -> RunRecord | None:
    """What the run's move does to its thread (inside the transition's write transaction): the
    queued run it hands the thread to, unparked."""
    tx = SqliteTx(db)
    next_run = await SQL.settle(tx, before, after, values)
    if next_run is None:
        return None
    rows = await tx.rows(SQL.select_run, (next_run,))
    return unparked(RunRecord.model_validate_json(rows[0][0])) if rows else None


class SqliteThreads(SqliteConnection, SqlThreads):
    _sql = SQL
    _run_tables = RUN_TABLES

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[SqliteTx]:
        async with self._tx() as db:
            yield SqliteTx(db)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[SqliteTx]:
        async with self._lock:  # not in the middle of another's write transaction (as get_run)
            yield SqliteTx(self._conn)
