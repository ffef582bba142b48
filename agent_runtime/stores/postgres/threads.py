"""Postgres threads: records in ``ca_threads``, their runs in ``ca_thread_runs`` (the shared
``sql.threads``). A run claims its thread under the thread's row lock in the transaction
inserting the run, and lets it go in the transaction of its transition; a search is one indexed
query (metadata matched by JSONB equality, key by key)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.schema import RUN_TABLES, Conn
from agent_runtime.stores.records import RunRecord
from agent_runtime.stores.sql.dialect import POSTGRES
from agent_runtime.stores.sql.threads import SqlThreads, Statements
from agent_runtime.stores.thread_rules import unparked

SQL = Statements(POSTGRES)
_LOCK_NEXT = "SELECT record::text AS record FROM ca_runs WHERE id = %s FOR UPDATE SKIP LOCKED"
#: The run an idempotency key names in a workflow of a namespace.
BY_KEY = (
    "SELECT record::text AS record FROM ca_runs"
    " WHERE namespace = %s AND workflow = %s AND idempotency_key = %s"
)


class PostgresTx:
    """A pooled connection as the shared thread code uses it (its dict rows as tuples)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(sql.encode(), args)
        return [tuple(r.values()) for r in await cur.fetchall()]

    async def run(self, sql: str, args: Sequence[Any]) -> int:
        """In a pipeline, -1: the count comes with the results, which this does not wait for."""
        cur = await self.conn.execute(sql.encode(), args)
        return cur.rowcount


async def claim_thread(conn: Conn, run: RunRecord, *, enqueue: bool) -> tuple[bool, RunRecord]:
    """Hold the run's thread for it, or queue it there (in the transaction inserting it): (True,
    the run to insert); or (False, the run its idempotency key already names, when a retry
    finds it, read under the thread's lock)."""
    assert run.thread_id is not None
    tx = PostgresTx(conn)
    thread = await SQL.read(tx, run.thread_id)
    if run.idempotency_key:
        cur = await conn.execute(BY_KEY, (run.namespace, run.workflow, run.idempotency_key))
        if row := await cur.fetchone():
            return False, RunRecord.model_validate_json(row["record"])
    return True, await SQL.hold(tx, thread, run, enqueue=enqueue)


async def settle_thread(
    conn: Conn, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
) -> RunRecord | None:
    """What the run's move does to its thread (in the transition's transaction): the queued run
    it hands the thread to, unparked. That run's row is taken only if no transaction holds it
    (a cancel of it, which then finds the thread handed to it and passes it on): a transition
    locks its run, then its thread, and waiting here would deadlock with it."""
    next_run = await SQL.settle(PostgresTx(conn), before, after, values)
    if next_run is None:
        return None
    cur = await conn.execute(_LOCK_NEXT, (next_run,))
    row = await cur.fetchone()
    return None if row is None else unparked(RunRecord.model_validate_json(row["record"]))


class PostgresThreads(PostgresConnection, SqlThreads):
    _sql = SQL
    _run_tables = RUN_TABLES

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[PostgresTx]:
        async with self._connection() as conn, conn.transaction():
            yield PostgresTx(conn)

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[PostgresTx]:
        async with self._connection() as conn:
            yield PostgresTx(conn)
