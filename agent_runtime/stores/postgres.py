"""The PostgreSQL run store: psycopg 3 (async) behind one connection pool, checkpoints included.

URL: ``postgresql://user:password@host:5432/db?sslmode=require&pool_max=20``. Query parameters
``pool_min`` (default 1), ``pool_max`` (default 10) and ``pool_timeout`` (seconds to wait for a
free connection, default 30) size the pool and are removed before connecting; every other one goes
to libpq. ``connect_timeout`` defaults to 10 seconds.

Run records are JSONB documents (the ``model_dump`` of the record, its source of truth) next to
the columns that are filtered, ordered or locked on. Checkpoints are written by the store's own
LangGraph saver (``postgres_checkpoints``) on the same pool, together with the step records the
engine defers to it: a durable step is one pipelined transaction.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import psycopg
from langgraph.checkpoint.base import BaseCheckpointSaver
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import TypeAdapter

from agent_runtime.stores.coalescing import DeferringStore, StepOutbox
from agent_runtime.stores.counters import spend_day
from agent_runtime.stores.errors import InvalidTransition, RunNotFound, StoreError
from agent_runtime.stores.paging import decode_cursor, page_of, run_filters
from agent_runtime.stores.postgres_checkpoints import SCHEMA as CHECKPOINT_SCHEMA
from agent_runtime.stores.postgres_checkpoints import PostgresCheckpointer
from agent_runtime.stores.postgres_records import record_ctes, write_records
from agent_runtime.stores.postgres_spend import SCHEMA as SPEND_SCHEMA
from agent_runtime.stores.postgres_spend import add_spend, get_spend
from agent_runtime.stores.records import (
    RunEvent,
    RunPage,
    RunRecord,
    RunStatus,
    Spend,
    StepRecord,
    utcnow,
)
from agent_runtime.stores.transitions import apply_transition
from agent_runtime.stores.url import redact

#: Schema versions, applied in order under an advisory lock; the position is the version number
#: (1-based). Text columns compare bytewise (``C``), like SQLite, so that ties sort the same.
MIGRATIONS = [
    """
    CREATE TABLE ca_runs (
        id TEXT COLLATE "C" PRIMARY KEY,
        workflow TEXT COLLATE "C" NOT NULL,
        namespace TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        finished_at TIMESTAMPTZ,
        idempotency_key TEXT COLLATE "C",
        lease_owner TEXT,
        lease_expires_at TIMESTAMPTZ,
        record JSONB NOT NULL
    );
    CREATE INDEX ca_runs_by_created ON ca_runs (created_at, id);
    CREATE INDEX ca_runs_by_status ON ca_runs (status, created_at, id);
    CREATE INDEX ca_runs_by_workflow ON ca_runs (workflow, created_at, id);
    CREATE INDEX ca_runs_by_namespace ON ca_runs (namespace, workflow, created_at, id);
    CREATE INDEX ca_runs_claimable ON ca_runs (created_at, id) INCLUDE (lease_expires_at)
        WHERE status IN ('queued', 'running');
    CREATE INDEX ca_runs_finished ON ca_runs (finished_at)
        WHERE status IN ('succeeded', 'failed', 'cancelled');
    CREATE UNIQUE INDEX ca_runs_idempotency ON ca_runs (namespace, workflow, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE TABLE ca_steps (
        run_id TEXT COLLATE "C" NOT NULL,
        node TEXT COLLATE "C" NOT NULL,
        visit INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (run_id, node, visit, attempt)
    );
    CREATE TABLE ca_events (
        run_id TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        record JSONB NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    -- the last event number of each run: its row lock makes numbers gapless and in commit order
    CREATE TABLE ca_event_seqs (
        run_id TEXT COLLATE "C" PRIMARY KEY,
        last_seq BIGINT NOT NULL
    );
    """,
    # Checkpoints move from LangGraph's saver tables to the store's own (one transaction a step).
    CHECKPOINT_SCHEMA,
    # Rate limits shared by the replicas: each key's theoretical arrival time (GCRA), in seconds.
    """
    CREATE TABLE ca_rate_limits (key TEXT COLLATE "C" PRIMARY KEY, tat DOUBLE PRECISION NOT NULL);
    """,
    # Namespace spend against the platform's budgets (postgres_spend).
    SPEND_SCHEMA,
]

#: pg_advisory_xact_lock key for MIGRATIONS.
MIGRATION_LOCK = 0x63612D6D6967  # "ca-mig"
#: pg_advisory_xact_lock key serialising claims while a per-namespace cap holds.
CLAIM_LOCK = 0x63612D636C6D  # "ca-clm"

#: Rows another claimer has locked are skipped; a row that stopped qualifying while we waited
#: for it is re-checked and passed over for the next one. ``capped`` narrows the candidates.
CLAIM = (
    "WITH candidate AS ("
    " SELECT id FROM ca_runs WHERE status IN ('queued', 'running')"
    " AND (lease_expires_at IS NULL OR lease_expires_at < %(now)s){capped}"
    " ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " UPDATE ca_runs AS r SET lease_owner = %(owner)s, lease_expires_at = %(expires)s,"
    " record = r.record || jsonb_build_object("
    "'lease_owner', %(owner)s::text, 'lease_expires_at', %(expires_json)s::text)"
    " FROM candidate WHERE r.id = candidate.id RETURNING r.record::text AS record"
)
#: Namespaces holding ``cap`` leases already (runs some replica is executing).
AT_CAP = (
    " AND namespace NOT IN (SELECT namespace FROM ca_runs"
    " WHERE status IN ('queued', 'running') AND lease_owner IS NOT NULL"
    " AND lease_expires_at >= %(now)s GROUP BY namespace HAVING count(*) >= %(cap)s)"
)

POOL_PARAMS = ("pool_min", "pool_max", "pool_timeout")
DEFAULT_CONNECT_TIMEOUT = 10

FINISHED = tuple(s.value for s in RunStatus if s.finished)
#: What else a run owns, by the column naming it (checkpoints are keyed by thread = run id).
_RUN_TABLES = (
    ("ca_steps", "run_id"),
    ("ca_events", "run_id"),
    ("ca_event_seqs", "run_id"),
    ("ca_checkpoint_writes", "thread_id"),
    ("ca_checkpoints", "thread_id"),
)
_DATETIME_JSON: TypeAdapter[datetime] = TypeAdapter(datetime)

Conn = psycopg.AsyncConnection[DictRow]


def _utc(value: datetime) -> datetime:
    """Naive means UTC (as in the SQLite store)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _json_time(value: datetime | None) -> Any:
    """A datetime as its record JSON holds it."""
    return None if value is None else _DATETIME_JSON.dump_python(value, mode="json")


#: A run's update, only if it still is as this process last wrote it: the same status, update
#: time and lease (claims and renewals change only the lease).
_SWAP_RUN = (
    "UPDATE ca_runs SET status = %(status)s, finished_at = %(finished)s, lease_owner = %(owner)s,"
    " lease_expires_at = %(expires)s, record = %(record)s::jsonb"
    " WHERE id = %(run)s AND status = %(from)s AND record->>'updated_at' = %(stamp)s"
    " AND lease_owner IS NOT DISTINCT FROM %(was_owner)s::text"
    " AND lease_expires_at IS NOT DISTINCT FROM %(was_expiring)s::timestamptz"
    " RETURNING id"
)
#: Runs this process created or moved to running, to move on without reading them (bounded).
_KNOWN_RUNS = 10_000


class PostgresStore(DeferringStore):
    """Run records, steps, events, leases and checkpoints in ``ca_*`` tables."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._url = _parse_url(url)
        self._safe_url, self._conninfo = self._url.shown, self._url.conninfo
        self.pool_min, self.pool_max = self._url.pool_min, self._url.pool_max
        self.pool_timeout = self._url.pool_timeout
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._outbox = StepOutbox()
        self._known: dict[str, RunRecord] = {}
        self._saver: PostgresCheckpointer | None = None
        #: Each namespace's day this object last removed its old spend rows (once a day).
        self._spend_pruned: dict[str, str] = {}

    # ------------------------------------------------------------------ opening and errors

    def _fail(self, exc: BaseException, doing: str) -> NoReturn:
        """Raise a one-line StoreError for a driver error; never with the password."""
        message = f"{doing} the PostgreSQL store at {self._safe_url}: {_one_line(exc)}"
        raise StoreError(self._url.scrub(message)) from None

    async def open(self) -> None:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, row_factory=dict_row
            )
        except (psycopg.Error, OSError) as exc:
            self._fail(exc, "cannot connect to")
        try:
            async with conn:
                await self._migrate(conn)
            pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
                self._conninfo,
                connection_class=psycopg.AsyncConnection[DictRow],
                kwargs={"autocommit": True, "row_factory": dict_row},
                min_size=self.pool_min,
                max_size=self.pool_max,
                timeout=self.pool_timeout,
                name="configurable-agents",
                open=False,
            )
            self._pool = pool
            await pool.open(wait=True, timeout=self.pool_timeout)
            self._saver = PostgresCheckpointer(self._connection, self._outbox)
        except (psycopg.Error, PoolTimeout, OSError) as exc:
            await self.close()
            self._fail(exc, "cannot open")
        except BaseException:
            await self.close()
            raise

    async def _migrate(self, conn: Conn) -> None:
        # Under a transaction-scoped lock, so that processes opening a new database at once
        # migrate it once; the DDL is transactional, a failed version leaves nothing behind.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS ca_migrations ("
                " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            cur = await conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM ca_migrations")
            row = await cur.fetchone()
            done = int(row["v"]) if row else 0
            if done > len(MIGRATIONS):
                raise StoreError(
                    f"the PostgreSQL store at {self._safe_url} has schema version {done}; "
                    f"this version of configurable-agents knows up to {len(MIGRATIONS)}"
                )
            for version, script in enumerate(MIGRATIONS[done:], start=done + 1):
                await conn.execute(script.encode())  # no parameters: several statements at once
                await conn.execute("INSERT INTO ca_migrations (version) VALUES (%s)", (version,))

    async def close(self) -> None:
        pool, self._pool, self._saver = self._pool, None, None
        if pool is not None:
            await pool.close()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A pooled connection (autocommit); driver errors become one-line StoreErrors."""
        if self._pool is None:
            raise StoreError("the store is not open")
        pool = self._pool
        try:
            async with pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            if _connection_lost(exc):
                # The server may have restarted: drop the idle connections that died with this
                # one now, rather than failing one operation for each of them.
                with suppress(psycopg.Error, PoolTimeout):
                    await pool.check()
            self._fail(exc, "error from")

    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        if self._saver is None:
            raise StoreError("the store is not open")
        return self._saver

    def is_transient(self, exc: BaseException) -> bool:
        """Lost connections and restarts, also when LangGraph's saver meets them first."""
        return super().is_transient(exc) or isinstance(
            exc, psycopg.OperationalError | psycopg.InterfaceError | PoolTimeout
        )

    # ------------------------------------------------------------------ runs

    async def create_run(self, run: RunRecord) -> RunRecord:
        async with self._connection() as conn:
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
                    _utc(run.created_at),
                    _utc(run.finished_at) if run.finished_at else None,
                    run.idempotency_key,
                    run.lease_owner,
                    _utc(run.lease_expires_at) if run.lease_expires_at else None,
                    run.model_dump_json(),
                ),
            )
            if await cur.fetchone():
                self._remember(run)
                return run
            # Either the idempotency key is taken (the other insert has committed: ON CONFLICT
            # waited for it), or the id exists.
            if run.idempotency_key:
                cur = await conn.execute(
                    "SELECT record::text AS record FROM ca_runs"
                    " WHERE namespace = %s AND workflow = %s AND idempotency_key = %s",
                    (run.namespace, run.workflow, run.idempotency_key),
                )
                if row := await cur.fetchone():
                    return RunRecord.model_validate_json(row["record"])
        raise StoreError(f"run {run.id!r} already exists")

    async def get_run(self, run_id: str) -> RunRecord:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT record::text AS record FROM ca_runs WHERE id = %s", (run_id,)
            )
            row = await cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return RunRecord.model_validate_json(row["record"])

    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        namespaces: Sequence[str] | None = None,
        created_by: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        if namespaces is not None and not namespaces:
            return RunPage(items=[])
        filters = run_filters(workflow, status)
        where = [f"{column} = %s" for column, _ in filters]
        args: list[Any] = [value for _, value in filters]
        if created_by is not None:
            where.append("record->'created_by'->>'username' = %s")
            args.append(created_by)
        if namespaces is not None:
            where.append("namespace = ANY(%s)")
            args.append(list(namespaces))
        if cursor:
            created, run_id = decode_cursor(cursor)
            where.append("(created_at, id) < (%s, %s)")
            args += [_utc(datetime.fromisoformat(created)), run_id]
        sql = "SELECT record::text AS record FROM ca_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT %s"
        args.append(limit + 1)
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            rows = await cur.fetchall()
        return page_of([r["record"] for r in rows], limit)

    async def count_runs(self, status: RunStatus) -> int:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM ca_runs WHERE status = %s", (status.value,)
            )
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def transition(self, run_id: str, status: RunStatus, **changes: Any) -> RunRecord:
        run, _ = await self._transition(run_id, status, None, changes)
        return run

    async def transition_and_emit(
        self, run_id: str, status: RunStatus, kind: str, data: dict[str, Any], **changes: Any
    ) -> tuple[RunRecord, RunEvent]:
        run, event = await self._transition(run_id, status, (kind, data), changes)
        assert event is not None
        return run, event

    async def _transition(
        self,
        run_id: str,
        status: RunStatus,
        event: tuple[str, dict[str, Any]] | None,
        changes: dict[str, Any],
    ) -> tuple[RunRecord, RunEvent | None]:
        known = self._known.pop(run_id, None)
        if known is not None:
            swapped = await self._swap(known, status, event, changes)
            if swapped is not None:
                return swapped
        appended: RunEvent | None = None
        async with self._connection() as conn:
            # Two round trips: BEGIN + SELECT ... FOR UPDATE, then UPDATE + COMMIT, pipelined by
            # hand (conn.transaction() in a pipeline syncs at its edges: five round trips).
            try:
                async with conn.pipeline():
                    await conn.execute("BEGIN")
                    cur = await conn.execute(
                        "SELECT record::text AS record FROM ca_runs WHERE id = %s FOR UPDATE",
                        (run_id,),
                    )
                    row = await cur.fetchone()
                    if row is None:
                        raise RunNotFound(run_id)
                    run = RunRecord.model_validate_json(row["record"])
                    updated = apply_transition(run, status, changes)
                    await self._write(conn, updated)
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

    def _remember(self, run: RunRecord) -> None:
        """Keep a run this process wrote, to move it on with one statement (see ``_swap``)."""
        if len(self._known) >= _KNOWN_RUNS:
            self._known.pop(next(iter(self._known)))
        self._known[run.id] = run

    async def _swap(
        self,
        known: RunRecord,
        status: RunStatus,
        event: tuple[str, dict[str, Any]] | None,
        changes: dict[str, Any],
    ) -> tuple[RunRecord, RunEvent | None] | None:
        """The transition in one statement (with its event) if the run is as this process last
        left it; None if it changed meanwhile or the move is not allowed (the caller reads it)."""
        try:
            updated = apply_transition(known, status, changes)
        except InvalidTransition:
            return None
        args: dict[str, Any] = {
            "run": known.id,
            "status": updated.status.value,
            "finished": _utc(updated.finished_at) if updated.finished_at else None,
            "owner": updated.lease_owner,
            "expires": _utc(updated.lease_expires_at) if updated.lease_expires_at else None,
            "record": updated.model_dump_json(),
            "from": known.status.value,
            "stamp": _json_time(known.updated_at),
            "was_owner": known.lease_owner,
            "was_expiring": _utc(known.lease_expires_at) if known.lease_expires_at else None,
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

    @staticmethod
    async def _write(conn: Conn, run: RunRecord) -> None:
        await conn.execute(
            "UPDATE ca_runs SET status = %s, finished_at = %s, lease_owner = %s,"
            " lease_expires_at = %s, record = %s::jsonb WHERE id = %s",
            (
                run.status.value,
                _utc(run.finished_at) if run.finished_at else None,
                run.lease_owner,
                _utc(run.lease_expires_at) if run.lease_expires_at else None,
                run.model_dump_json(),
                run.id,
            ),
        )

    # ------------------------------------------------------------------ steps and events

    async def record_step(
        self, step: StepRecord, *, event: tuple[str, dict[str, Any]] | None = None
    ) -> RunEvent | None:
        pending = []
        if event is not None:
            pending.append(RunEvent(run_id=step.run_id, seq=0, type=event[0], data=event[1]))
        async with self._connection() as conn:
            seqs = await write_records(conn, step.run_id, [step], pending)
        if not pending:
            return None
        return pending[0].model_copy(update={"seq": seqs[0]})

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT record::text AS record FROM ca_steps WHERE run_id = %s"
                " ORDER BY started_at, node, visit, attempt",
                (run_id,),
            )
            rows = await cur.fetchall()
        return [StepRecord.model_validate_json(r["record"]) for r in rows]

    async def append_event(
        self,
        run_id: str,
        kind: str,
        data: dict[str, Any],
    ) -> RunEvent:
        event = RunEvent(run_id=run_id, seq=0, type=kind, data=data)
        async with self._connection() as conn:
            seqs = await write_records(conn, run_id, [], [event])
        return event.model_copy(update={"seq": seqs[0]})

    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]:
        async with self._connection() as conn:
            cur = await conn.execute(
                "SELECT record::text AS record FROM ca_events WHERE run_id = %s AND seq > %s"
                " ORDER BY seq",
                (run_id, after),
            )
            rows = await cur.fetchall()
        return [RunEvent.model_validate_json(r["record"]) for r in rows]

    # ------------------------------------------------------------------ leases

    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        now = utcnow()
        expires = now + timedelta(seconds=ttl)
        params = {
            "now": now,
            "owner": owner,
            "expires": expires,
            "expires_json": _json_time(expires),
            "cap": max_per_namespace,
        }
        async with self._connection() as conn:
            if not max_per_namespace:
                cur = await conn.execute(CLAIM.format(capped="").encode(), params)
                row = await cur.fetchone()
            else:
                # Claims are serialised while a cap holds, so that two replicas never both take
                # a namespace's last slot (each would count the other's claim as not there yet).
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (CLAIM_LOCK,))
                    cur = await conn.execute(CLAIM.format(capped=AT_CAP).encode(), params)
                    row = await cur.fetchone()
        return RunRecord.model_validate_json(row["record"]) if row else None

    async def take_token(self, key: str, *, rate: float, burst: int) -> float:
        # The server's clock, so that every replica counts time the same way.
        interval, tau = 1.0 / rate, (burst - 1) / rate
        async with self._connection() as conn:
            cur = await conn.execute(
                "WITH now AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS t)"
                " INSERT INTO ca_rate_limits AS l (key, tat) SELECT %(key)s, t + %(i)s FROM now"
                " ON CONFLICT (key) DO UPDATE SET tat = GREATEST(l.tat, (SELECT t FROM now))"
                " + %(i)s WHERE GREATEST(l.tat, (SELECT t FROM now)) - (SELECT t FROM now)"
                " <= %(tau)s + 1e-9"
                " RETURNING 0.0::float8 AS wait",
                {"key": key, "i": interval, "tau": tau},
            )
            if await cur.fetchone() is not None:
                return 0.0
            cur = await conn.execute(
                "SELECT tat - extract(epoch FROM clock_timestamp())::float8 - %s AS wait"
                " FROM ca_rate_limits WHERE key = %s",
                (tau, key),
            )
            row = await cur.fetchone()
        return max(float(row["wait"]) if row else 0.0, 0.001)

    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        day = spend_day(at)
        prune = self._spend_pruned.get(namespace) != day
        async with self._connection() as conn:
            await add_spend(conn, namespace, tokens=tokens, cost=cost, at=at, prune=prune)
        if prune:
            self._spend_pruned[namespace] = day

    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        async with self._connection() as conn:
            return await get_spend(conn, namespace, at=at)

    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        expires = utcnow() + timedelta(seconds=ttl)
        return await self._set_lease(run_id, owner=owner, expires=expires, new_owner=owner)

    async def release_lease(self, run_id: str, *, owner: str) -> None:
        await self._set_lease(run_id, owner=owner, expires=None, new_owner=None)

    async def _set_lease(
        self, run_id: str, *, owner: str, expires: datetime | None, new_owner: str | None
    ) -> bool:
        """Change the lease if ``owner`` holds it; False if not, RunNotFound if no such run."""
        async with self._connection() as conn:
            cur = await conn.execute(
                "UPDATE ca_runs SET lease_owner = %(new_owner)s, lease_expires_at = %(expires)s,"
                " record = record || jsonb_build_object("
                "'lease_owner', %(new_owner)s::text, 'lease_expires_at', %(expires_json)s::text)"
                " WHERE id = %(id)s AND lease_owner = %(owner)s RETURNING 1 AS ok",
                {
                    "id": run_id,
                    "owner": owner,
                    "new_owner": new_owner,
                    "expires": expires,
                    "expires_json": _json_time(expires),
                },
            )
            if await cur.fetchone():
                return True
            cur = await conn.execute("SELECT 1 AS ok FROM ca_runs WHERE id = %s", (run_id,))
            if await cur.fetchone() is None:
                raise RunNotFound(run_id)
        return False

    async def delete_runs(self, *, finished_before: datetime) -> int:
        async with self._connection() as conn:
            async with conn.transaction():
                cur = await conn.execute(
                    "DELETE FROM ca_runs WHERE status = ANY(%s) AND finished_at < %s RETURNING id",
                    (list(FINISHED), _utc(finished_before)),
                )
                ids = [r["id"] for r in await cur.fetchall()]
                if ids:
                    for table, column in _RUN_TABLES:
                        await conn.execute(
                            f"DELETE FROM {table} WHERE {column} = ANY(%s)".encode(), (ids,)
                        )
        return len(ids)


@dataclass(frozen=True)
class _Url:
    """A store URL taken apart: what libpq gets, what messages may show, the pool settings."""

    shown: str
    conninfo: str
    secrets: tuple[str, ...]
    pool_min: int
    pool_max: int
    pool_timeout: float

    def scrub(self, text: str) -> str:
        return _scrub(text, self.secrets)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _parse_url(url: str) -> _Url:
    try:
        shown = redact(url)
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        found = {parts.password, *(v for k, v in query if k == "password")}
    except ValueError as exc:
        shown = url.split("://", 1)[0] + "://..."
        raise StoreError(f"invalid store URL {shown!r}: {exc}") from None
    variants = {form for s in found if s for form in (s, quote(s, safe=""), unquote(s))}
    secrets = tuple(sorted(variants, key=len, reverse=True))  # longest first
    shown = _scrub(re.sub(r"([?&]password=)[^&#]*", r"\1***", shown), secrets)

    def invalid(detail: str) -> NoReturn:
        raise StoreError(_scrub(f"invalid store URL {shown!r}: {detail}", secrets))

    settings = {k: v for k, v in query if k in POOL_PARAMS}
    rest = [(k, v) for k, v in query if k not in POOL_PARAMS]
    if not any(k == "connect_timeout" for k, _ in rest):
        rest.append(("connect_timeout", str(DEFAULT_CONNECT_TIMEOUT)))
    try:
        pool_min = int(settings.get("pool_min", 1))
        pool_max = int(settings.get("pool_max", max(10, pool_min)))
        pool_timeout = float(settings.get("pool_timeout", 30))
    except ValueError:
        invalid("pool_min and pool_max must be whole numbers, pool_timeout a number of seconds")
    if not 0 <= pool_min <= pool_max or pool_max < 1 or not pool_timeout > 0:
        invalid("expected 0 <= pool_min <= pool_max, pool_max >= 1 and pool_timeout > 0")
    conninfo = parts._replace(query=urlencode(rest)).geturl()
    try:
        psycopg.conninfo.conninfo_to_dict(conninfo)
    except psycopg.Error as exc:
        invalid(_one_line(exc))
    return _Url(shown, conninfo, secrets, pool_min, pool_max, pool_timeout)


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[:2]) or type(exc).__name__


def _connection_lost(exc: BaseException) -> bool:
    """A broken connection (no SQLSTATE: client side) or the server going away (08, 57P)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate or ""
    return not state or state.startswith(("08", "57P"))
