"""Postgres run records: JSONB documents (the record's ``model_dump``, its source of truth) next to
the columns filtered, ordered or locked on. A run this process last wrote moves on in one
statement (``_swap``), checked against what it wrote; otherwise read under a row lock."""

from __future__ import annotations

from typing import Any

from psycopg.pq import TransactionStatus

from agent_runtime.stores.base import Moved, NewEvent
from agent_runtime.stores.errors import InvalidTransition, LeaseLost, RunNotFound, StoreError
from agent_runtime.stores.fencing import holder
from agent_runtime.stores.paging import RunQuery, page_of
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.events import record_ctes
from agent_runtime.stores.postgres.schema import Conn, json_time, utc
from agent_runtime.stores.postgres.threads import BY_KEY, claim_thread, settle_thread
from agent_runtime.stores.records import RunEvent, RunPage, RunRecord, RunStatus
from agent_runtime.stores.sql.dialect import POSTGRES
from agent_runtime.stores.sql.listing import list_runs_query
from agent_runtime.stores.thread_rules import pop_values
from agent_runtime.stores.transitions import apply_transition

#: A run's update, only if it still is as this process last wrote it: the same status, update
#: time and lease (claims and renewals change only the lease), still held when it is fenced.
_SWAP_RUN = (
    "UPDATE ca_runs SET status = %(status)s, finished_at = %(finished)s, lease_owner = %(owner)s,"
    " lease_expires_at = %(expires)s, record = %(record)s::jsonb"
    " WHERE id = %(run)s AND status = %(from)s AND record->>'updated_at' = %(stamp)s"
    " AND lease_owner IS NOT DISTINCT FROM %(was_owner)s::text"
    " AND lease_expires_at IS NOT DISTINCT FROM %(was_expiring)s::timestamptz"
    " AND (%(fence)s::text IS NULL OR lease_owner = %(fence)s"
    " AND (lease_expires_at IS NULL OR lease_expires_at > clock_timestamp()))"
    " RETURNING id"
)
#: A run's record, locked, and whether its lease (if any) still runs by the server's clock.
_LOCK_RUN = (
    "SELECT record::text AS record,"
    " lease_expires_at IS NULL OR lease_expires_at > clock_timestamp() AS live"
    " FROM ca_runs WHERE id = %s FOR UPDATE"
)


class PostgresRuns(PostgresConnection):
    async def create_run(self, run: RunRecord, *, enqueue: bool = False) -> RunRecord:
        async with self._connection() as conn:
            if run.thread_id is not None:  # claims the thread in the same transaction
                async with conn.transaction():
                    new, run = await claim_thread(conn, run, enqueue=enqueue)
                    if not new:
                        return run
                    if not await self._insert(conn, run):
                        raise StoreError(f"run {run.id!r} already exists")  # rolled back
                self._remember(run)
                return run
            if await self._insert(conn, run):
                self._remember(run)
                return run
            # Either the idempotency key is taken (the other insert has committed: ON CONFLICT
            # waited for it), or the id exists.
            if run.idempotency_key:
                cur = await conn.execute(BY_KEY, (run.namespace, run.workflow, run.idempotency_key))
                if row := await cur.fetchone():
                    return RunRecord.model_validate_json(row["record"])
        raise StoreError(f"run {run.id!r} already exists")

    @staticmethod
    async def _insert(conn: Conn, run: RunRecord) -> bool:
        """Insert the run unless its id or idempotency key is taken; whether it was."""
        cur = await conn.execute(
            "INSERT INTO ca_runs (id, workflow, namespace, status, created_at, finished_at,"
            " idempotency_key, lease_owner, lease_expires_at, record)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
            " ON CONFLICT DO NOTHING RETURNING 1 AS ok",
            (
                run.id,
                run.workflow,
                run.namespace,
                run.status.value,
                utc(run.created_at),
                utc(run.finished_at) if run.finished_at else None,
                run.idempotency_key,
                run.lease_owner,
                utc(run.lease_expires_at) if run.lease_expires_at else None,
                run.model_dump_json(),
            ),
        )
        return await cur.fetchone() is not None

    async def get_run(self, run_id: str) -> RunRecord:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT record::text AS record FROM ca_runs WHERE id = %s", (run_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return RunRecord.model_validate_json(row["record"])

    async def _list_page(self, query: RunQuery) -> RunPage:
        sql, args = list_runs_query(POSTGRES, utc, query)
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            rows = await cur.fetchall()
        return page_of([r["record"] for r in rows], query.limit)

    async def count_runs(self, status: RunStatus) -> int:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM ca_runs WHERE status = %s", (status.value,)
            )
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def _transition(
        self, run_id: str, status: RunStatus, changes: dict[str, Any], event: NewEvent | None
    ) -> Moved:
        values = pop_values(changes)
        known = self._known.pop(run_id, None)
        if known is not None and known.thread_id is None:  # a thread's run moves it too
            try:
                moved: RunRecord | None = apply_transition(known, status, changes)
            except InvalidTransition:
                moved = None  # not allowed from what this process wrote: read the run
            if moved is not None and (swapped := await self._swap(known, moved, event)):
                return swapped
        appended: RunEvent | None = None
        async with self._connection() as conn:
            # Two round trips: BEGIN + SELECT ... FOR UPDATE, then UPDATE + COMMIT, pipelined by
            # hand (conn.transaction() in a pipeline syncs at its edges: five round trips).
            try:
                async with conn.pipeline():
                    await conn.execute("BEGIN")
                    cur = await conn.execute(_LOCK_RUN, (run_id,))
                    row = await cur.fetchone()
                    if row is None:
                        raise RunNotFound(run_id)
                    run = RunRecord.model_validate_json(row["record"])
                    owner = holder(run_id)
                    if owner is not None and not (run.lease_owner == owner and row["live"]):
                        raise LeaseLost(run_id, owner)
                    updated = apply_transition(run, status, changes)
                    await self._write_run(conn, updated)
                    if next_run := await settle_thread(conn, run, updated, values):
                        await self._write_run(conn, next_run)
                    if event is not None:
                        appended = RunEvent(run_id=run_id, seq=0, type=event[0], data=event[1])
                        ctes, args = record_ctes(run_id, [], [appended])
                        numbered = await conn.execute(
                            f"WITH {', '.join(ctes)} SELECT seq FROM ev", args
                        )
                    await conn.execute("COMMIT")
                if appended is not None and (row := await numbered.fetchone()):
                    appended = appended.model_copy(update={"seq": int(row["seq"])})
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    await conn.execute("ROLLBACK")
                raise
        self._moved(updated)
        return updated, appended

    def _moved(self, run: RunRecord) -> None:
        self._outbox.moved(run)
        if run.status == RunStatus.RUNNING:
            self._remember(run)

    async def _swap(
        self, known: RunRecord, updated: RunRecord, event: NewEvent | None
    ) -> Moved | None:
        """The transition of ``known`` to ``updated`` in one statement (with its event) if the run
        is as this process last left it; None if it changed meanwhile (the caller reads it)."""
        args: dict[str, Any] = {
            "run": known.id,
            "status": updated.status.value,
            "finished": utc(updated.finished_at) if updated.finished_at else None,
            "owner": updated.lease_owner,
            "expires": utc(updated.lease_expires_at) if updated.lease_expires_at else None,
            "record": updated.model_dump_json(),
            "from": known.status.value,
            "stamp": json_time(known.updated_at),
            "was_owner": known.lease_owner,
            "was_expiring": utc(known.lease_expires_at) if known.lease_expires_at else None,
            "fence": holder(known.id),
        }
        appended = None
        sql = _SWAP_RUN
        if event is not None:
            appended = RunEvent(run_id=known.id, seq=0, type=event[0], data=event[1])
            ctes, extra = record_ctes(known.id, [], [appended], guard="FROM moved")
            args.update(extra)
            sql = f"WITH moved AS ({_SWAP_RUN}), {', '.join(ctes)} SELECT seq FROM ev"
        async with self._connection() as conn:
            cur = await conn.execute(sql, args)
            row = await cur.fetchone()
        if row is None:
            return None
        if appended is not None:
            appended = appended.model_copy(update={"seq": int(row["seq"])})
        self._moved(updated)
        return updated, appended
