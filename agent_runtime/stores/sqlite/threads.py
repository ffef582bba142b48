"""SQLite threads: records in ``ca_threads``, their runs in ``ca_thread_runs``; a run claims
its thread, and lets it go, inside the write transaction of its own record."""

from __future__ import annotations

from functools import partial
from typing import Any

import aiosqlite

from agent_runtime.stores.errors import ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import Actor, RunRecord, ThreadRecord
from agent_runtime.stores.sql.dialect import SQLITE
from agent_runtime.stores.sql.threads import Statements, copy_statements, page
from agent_runtime.stores.sqlite.connection import SqliteConnection
from agent_runtime.stores.sqlite.schema import RUN_TABLES
from agent_runtime.stores.thread_rules import (
    ThreadQuery,
    changed,
    copied_run_id,
    copy_of,
    deletable,
    erasable,
    unparked,
)

SQL = Statements(SQLITE)
COPY = copy_statements(SQLITE)


async def read_thread(db: aiosqlite.Connection, thread_id: str) -> ThreadRecord:
    async with db.execute(SQL.select, (thread_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        raise ThreadNotFound(thread_id)
    return ThreadRecord.model_validate_json(row[0])


async def claim_thread(db: aiosqlite.Connection, run: RunRecord, *, enqueue: bool) -> RunRecord:
    """Hold the run's thread for it, or queue it there (inside the write transaction creating
    the run); the run to insert."""
    assert run.thread_id is not None
    return await SQL.hold(db.execute, await read_thread(db, run.thread_id), run, enqueue=enqueue)


async def settle_thread(
    db: aiosqlite.Connection, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
) -> RunRecord | None:
    """What the run's move does to its thread (inside the transition's write transaction): the
    queued run it hands the thread to, unparked."""
    next_run = await SQL.settle(partial(read_thread, db), db.execute, before, after, values)
    if next_run is None:
        return None
    async with db.execute("SELECT record FROM ca_runs WHERE id=?", (next_run,)) as cur:
        row = await cur.fetchone()
    return None if row is None else unparked(RunRecord.model_validate_json(row[0]))


class SqliteThreads(SqliteConnection):
    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        async with self._tx() as db:
            cur = await db.execute(SQL.insert, SQL.row(thread))
            if cur.rowcount != 1:
                raise ThreadConflict(thread.id, "already exists")
        return thread

    async def get_thread(self, thread_id: str) -> ThreadRecord:
        async with self._lock:  # not in the middle of another's write transaction (as get_run)
            return await read_thread(self._conn, thread_id)

    async def _search_threads(self, query: ThreadQuery) -> list[ThreadRecord]:
        sql, args, filtered = SQL.search(query)
        async with self._conn.execute(sql, args) as cur:
            rows = [r[0] for r in await cur.fetchall()]
        return page(rows, query, filtered=filtered)

    async def update_thread(
        self,
        thread_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
    ) -> ThreadRecord:
        async with self._tx() as db:
            thread = changed(await read_thread(db, thread_id), metadata=metadata, values=values)
            await db.execute(SQL.update, SQL.update_row(thread))
        return thread

    async def delete_thread(self, thread_id: str) -> None:
        async with self._tx() as db:
            deletable(await read_thread(db, thread_id))
            async with db.execute(SQL.links, (thread_id,)) as cur:
                run_ids = [r[1] for r in await cur.fetchall()]
            for run_id in run_ids:
                await db.execute("DELETE FROM ca_runs WHERE id=?", (run_id,))
                for table, column in RUN_TABLES:
                    await db.execute(f"DELETE FROM {table} WHERE {column}=?", (run_id,))
            await db.execute(SQL.unlink, (thread_id,))
            await db.execute(SQL.delete, (thread_id,))

    async def erase_run(self, run_id: str) -> None:
        async with self._tx() as db:
            erasable(await self._read(run_id))
            await db.execute("DELETE FROM ca_runs WHERE id=?", (run_id,))
            for table, column in RUN_TABLES:
                await db.execute(f"DELETE FROM {table} WHERE {column}=?", (run_id,))

    async def copy_thread(
        self, thread_id: str, new_id: str, *, created_by: Actor | None = None
    ) -> ThreadRecord:
        if self._saver is not None:  # what its runs' savers still hold goes with the copy
            for _, run_id in await self._links(thread_id):
                await self._saver.flush(run_id)
        async with self._tx() as db:
            copy = copy_of(await read_thread(db, thread_id), new_id, created_by)
            cur = await db.execute(SQL.insert, SQL.row(copy))
            if cur.rowcount != 1:
                raise ThreadConflict(new_id, "already exists")
            for at, run_id in await self._links(thread_id):
                target = copied_run_id(new_id, run_id)
                for statement in COPY:
                    await db.execute(statement, (target, run_id))
                await db.execute(SQL.link, (new_id, at, target))
        return copy

    async def _links(self, thread_id: str) -> list[tuple[str, str]]:
        async with self._conn.execute(SQL.links, (thread_id,)) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def _thread_runs(
        self, thread_id: str, limit: int, before: str | None, inclusive: bool = False
    ) -> list[str]:
        sql, args = SQL.runs(thread_id, limit, before, inclusive)
        async with self._conn.execute(sql, args) as cur:
            return [r[0] for r in await cur.fetchall()]
