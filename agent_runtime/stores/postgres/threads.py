"""Postgres threads: records in ``ca_threads``, their runs in ``ca_thread_runs``. A run claims
its thread under the thread's row lock in the transaction inserting the run, and lets it go in
the transaction of its transition; a search is one indexed query (metadata matched by JSONB
equality, key by key)."""

from __future__ import annotations

from functools import partial
from typing import Any

from agent_runtime.stores.errors import RunNotFound, ThreadConflict, ThreadNotFound
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.schema import RUN_TABLES, Conn
from agent_runtime.stores.records import Actor, RunRecord, ThreadRecord
from agent_runtime.stores.sql.dialect import POSTGRES
from agent_runtime.stores.sql.threads import Statements, copy_statements, page
from agent_runtime.stores.thread_rules import (
    ThreadQuery,
    changed,
    copied_run_id,
    copy_of,
    deletable,
    erasable,
    unparked,
)

SQL = Statements(POSTGRES)
COPY = copy_statements(POSTGRES)
_LOCK_RUNS = (
    "SELECT id FROM ca_runs WHERE id IN"
    " (SELECT run_id FROM ca_thread_runs WHERE thread_id = %s) ORDER BY id FOR UPDATE"
)
_LOCK_NEXT = "SELECT record::text AS record FROM ca_runs WHERE id = %s FOR UPDATE SKIP LOCKED"
_BY_KEY = (
    "SELECT record::text AS record FROM ca_runs"
    " WHERE namespace = %s AND workflow = %s AND idempotency_key = %s"
)


async def read_thread(conn: Conn, thread_id: str) -> ThreadRecord:
    """The thread, locked for the rest of the transaction."""
    cur = await conn.execute(SQL.select, (thread_id,))
    row = await cur.fetchone()
    if row is None:
        raise ThreadNotFound(thread_id)
    return ThreadRecord.model_validate_json(row["record"])


async def claim_thread(conn: Conn, run: RunRecord, *, enqueue: bool) -> tuple[bool, RunRecord]:
    """Hold the run's thread for it, or queue it there (in the transaction inserting it): (True,
    the run to insert); or (False, the run its idempotency key already names, when a retry
    finds it, read under the thread's lock)."""
    assert run.thread_id is not None
    thread = await read_thread(conn, run.thread_id)
    if run.idempotency_key:
        cur = await conn.execute(_BY_KEY, (run.namespace, run.workflow, run.idempotency_key))
        if row := await cur.fetchone():
            return False, RunRecord.model_validate_json(row["record"])
    return True, await SQL.hold(conn.execute, thread, run, enqueue=enqueue)


async def settle_thread(
    conn: Conn, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
) -> RunRecord | None:
    """What the run's move does to its thread (in the transition's transaction): the queued run
    it hands the thread to, unparked. That run's row is taken only if no transaction holds it
    (a cancel of it, which then finds the thread handed to it and passes it on): a transition
    locks its run, then its thread, and waiting here would deadlock with it."""
    next_run = await SQL.settle(partial(read_thread, conn), conn.execute, before, after, values)
    if next_run is None:
        return None
    cur = await conn.execute(_LOCK_NEXT, (next_run,))
    row = await cur.fetchone()
    return None if row is None else unparked(RunRecord.model_validate_json(row["record"]))


class PostgresThreads(PostgresConnection):
    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        async with self._connection() as conn:
            cur = await conn.execute(SQL.insert, SQL.row(thread))
            if cur.rowcount != 1:
                raise ThreadConflict(thread.id, "already exists")
        return thread

    async def get_thread(self, thread_id: str) -> ThreadRecord:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT record::text AS record FROM ca_threads WHERE id = %s", (thread_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise ThreadNotFound(thread_id)
        return ThreadRecord.model_validate_json(row["record"])

    async def _search_threads(self, query: ThreadQuery) -> list[ThreadRecord]:
        sql, args, filtered = SQL.search(query)
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            rows = [r["record"] for r in await cur.fetchall()]
        return page(rows, query, filtered=filtered)

    async def update_thread(
        self,
        thread_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
    ) -> ThreadRecord:
        async with self._connection() as conn, conn.transaction():
            thread = changed(await read_thread(conn, thread_id), metadata=metadata, values=values)
            await conn.execute(SQL.update, SQL.update_row(thread))
        return thread

    async def delete_thread(self, thread_id: str) -> None:
        async with self._connection() as conn, conn.transaction():
            # the runs' rows before the thread's, in the order a transition locks them (its
            # run's, then its thread's): a cancel meanwhile waits instead of deadlocking
            await conn.execute(_LOCK_RUNS, (thread_id,))
            deletable(await read_thread(conn, thread_id))
            cur = await conn.execute(SQL.links, (thread_id,))
            run_ids = [r["run_id"] for r in await cur.fetchall()]
            if run_ids:
                await conn.execute("DELETE FROM ca_runs WHERE id = ANY(%s)", (run_ids,))
                for table, column in RUN_TABLES:
                    await conn.execute(
                        f"DELETE FROM {table} WHERE {column} = ANY(%s)".encode(), (run_ids,)
                    )
            await conn.execute(SQL.unlink, (thread_id,))
            await conn.execute(SQL.delete, (thread_id,))

    async def erase_run(self, run_id: str) -> None:
        async with self._connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT record::text AS record FROM ca_runs WHERE id = %s FOR UPDATE", (run_id,)
            )
            row = await cur.fetchone()
            if row is None:
                raise RunNotFound(run_id)
            erasable(RunRecord.model_validate_json(row["record"]))
            await conn.execute("DELETE FROM ca_runs WHERE id = %s", (run_id,))
            for table, column in RUN_TABLES:
                await conn.execute(f"DELETE FROM {table} WHERE {column} = %s".encode(), (run_id,))

    async def copy_thread(
        self, thread_id: str, new_id: str, *, created_by: Actor | None = None
    ) -> ThreadRecord:
        async with self._connection() as conn:
            cur = await conn.execute(SQL.links, (thread_id,))
            links = [(r["at"], r["run_id"]) for r in await cur.fetchall()]
        if self._saver is not None:  # what its runs' savers still hold goes with the copy
            for _, run_id in links:
                await self._saver.flush(run_id)
        async with self._connection() as conn, conn.transaction():
            copy = copy_of(await read_thread(conn, thread_id), new_id, created_by)
            cur = await conn.execute(SQL.insert, SQL.row(copy))
            if cur.rowcount != 1:
                raise ThreadConflict(new_id, "already exists")
            for at, run_id in links:
                target = copied_run_id(new_id, run_id)
                for statement in COPY:
                    await conn.execute(statement.encode(), (target, run_id))
                await conn.execute(SQL.link, (new_id, at, target))
        return copy

    async def _thread_runs(
        self, thread_id: str, limit: int, before: str | None, inclusive: bool = False
    ) -> list[str]:
        sql, args = SQL.runs(thread_id, limit, before, inclusive)
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            return [r["run_id"] for r in await cur.fetchall()]
