"""SQLite run records: inserted once (an idempotency key names one run), read, listed, moved."""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite

from agent_runtime.stores.base import Moved, NewEvent
from agent_runtime.stores.errors import RunNotFound, StoreError
from agent_runtime.stores.fencing import check_held, holder
from agent_runtime.stores.paging import RunQuery, page_of
from agent_runtime.stores.records import RunPage, RunRecord, RunStatus, utcnow
from agent_runtime.stores.sql.dialect import SQLITE
from agent_runtime.stores.sql.listing import list_runs_query
from agent_runtime.stores.sqlite.connection import SqliteConnection, put_run, read_record
from agent_runtime.stores.sqlite.events import insert_event, put_event
from agent_runtime.stores.sqlite.schema import ts
from agent_runtime.stores.sqlite.threads import claim_thread, settle_thread
from agent_runtime.stores.thread_rules import pop_values
from agent_runtime.stores.transitions import apply_transition


class SqliteRuns(SqliteConnection):
    async def create_run(self, run: RunRecord, *, enqueue: bool = False) -> RunRecord:
        if run.thread_id is not None:  # claims the thread in the same transaction
            async with self._tx() as db:
                if run.idempotency_key and (existing := await self._by_key(run)):
                    return existing
                return await self._create(await claim_thread(db, run, enqueue=enqueue))
        async with self._lock:
            return await self._create(run)

    async def _create(self, run: RunRecord) -> RunRecord:
        if run.idempotency_key and (existing := await self._by_key(run)):
            return existing
        try:
            await self._conn.execute(
                "INSERT INTO ca_runs (id, workflow, namespace, status, created_at, idempotency_key,"
                " lease_owner, lease_expires_at, record) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run.id,
                    run.workflow,
                    run.namespace,
                    run.status.value,
                    ts(run.created_at),
                    run.idempotency_key,
                    run.lease_owner,
                    ts(run.lease_expires_at) if run.lease_expires_at else None,
                    run.model_dump_json(),
                ),
            )
        except aiosqlite.IntegrityError:
            # another process took the key meanwhile; otherwise the id exists
            if run.idempotency_key and (existing := await self._by_key(run)):
                return existing
            raise StoreError(f"run {run.id!r} already exists") from None
        return run

    async def _by_key(self, run: RunRecord) -> RunRecord | None:
        async with self._conn.execute(
            "SELECT record FROM ca_runs WHERE namespace=? AND workflow=? AND idempotency_key=?",
            (run.namespace, run.workflow, run.idempotency_key),
        ) as cur:
            row = await cur.fetchone()
        return RunRecord.model_validate_json(row[0]) if row else None

    async def get_run(self, run_id: str) -> RunRecord:
        async with self._lock:
            return await self._read(run_id)

    async def _list_page(self, query: RunQuery) -> RunPage:
        sql, args = list_runs_query(SQLITE, ts, query)
        async with self._conn.execute(sql, args) as cur:
            rows = list(await cur.fetchall())
        return page_of([r[0] for r in rows], query.limit)

    async def count_runs(self, status: RunStatus) -> int:
        async with self._conn.execute(
            "SELECT count(*) FROM ca_runs WHERE status=?", (status.value,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _transition(
        self, run_id: str, status: RunStatus, changes: dict[str, Any], event: NewEvent | None
    ) -> Moved:
        values = pop_values(changes)
        owner = holder(run_id)

        def move(conn: sqlite3.Connection) -> Moved | None:
            """The whole transition on the connection's thread; None for a run on a thread,
            whose move may hand the thread on (``settle_thread``, below)."""
            record = read_record(conn, run_id)
            if record is None:
                raise RunNotFound(run_id)
            run = RunRecord.model_validate_json(record)
            if run.thread_id is not None:
                return None
            check_held(run, owner, utcnow())
            updated = apply_transition(run, status, changes)
            put_run(conn, updated)
            return updated, None if event is None else put_event(conn, run_id, *event)

        if moved := await self._write(move):
            self._outbox.moved(moved[0])
            return moved
        appended = None
        async with self._tx() as db:
            run = await self._read(run_id)
            check_held(run, owner, utcnow())
            updated = apply_transition(run, status, changes)
            await self._write_run(updated)
            if next_run := await settle_thread(db, run, updated, values):
                await self._write_run(next_run)
            if event is not None:
                appended = await insert_event(db, run_id, *event)
        self._outbox.moved(updated)
        return updated, appended
