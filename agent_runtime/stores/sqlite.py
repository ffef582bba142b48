"""The SQLite run store: one local file for run records and LangGraph checkpoints (written by
the store's own saver, ``sqlite_checkpoints``, with each step's records in one transaction)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver

from agent_runtime.stores.coalescing import DeferringStore, StepOutbox
from agent_runtime.stores.counters import gcra, spend_cutoff, spend_day
from agent_runtime.stores.errors import RunNotFound, StoreError
from agent_runtime.stores.paging import decode_cursor, page_of, run_filters
from agent_runtime.stores.records import (
    Amount,
    RunEvent,
    RunPage,
    RunRecord,
    RunStatus,
    Spend,
    StepRecord,
    utcnow,
)
from agent_runtime.stores.sqlite_checkpoints import SCHEMA as CHECKPOINT_SCHEMA
from agent_runtime.stores.sqlite_checkpoints import SqliteCheckpointer
from agent_runtime.stores.transitions import apply_transition

#: Schema versions, applied in order; each is statements separated by ``;`` (no triggers).
MIGRATIONS = [
    """
    CREATE TABLE IF NOT EXISTS ca_runs (
        id TEXT PRIMARY KEY,
        workflow TEXT NOT NULL,
        namespace TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        idempotency_key TEXT,
        lease_owner TEXT,
        lease_expires_at TEXT,
        record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ca_runs_by_created ON ca_runs (created_at DESC, id DESC);
    CREATE INDEX IF NOT EXISTS ca_runs_by_status ON ca_runs (status, created_at);
    CREATE UNIQUE INDEX IF NOT EXISTS ca_runs_idempotency
        ON ca_runs (namespace, workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE TABLE IF NOT EXISTS ca_steps (
        run_id TEXT NOT NULL,
        node TEXT NOT NULL,
        visit INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, node, visit, attempt)
    );
    CREATE TABLE IF NOT EXISTS ca_events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    """,
    # Checkpoints move from LangGraph's saver tables to the store's own (one transaction a step).
    CHECKPOINT_SCHEMA,
    # Rate limits (one process or several on one file): each key's theoretical arrival time.
    "CREATE TABLE IF NOT EXISTS ca_rate_limits (key TEXT PRIMARY KEY, tat REAL NOT NULL);",
    # Namespace spend: one row a namespace and UTC day; a month is the sum of its days.
    """
    CREATE TABLE IF NOT EXISTS ca_spend (
        namespace TEXT NOT NULL,
        day TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        cost REAL NOT NULL,
        PRIMARY KEY (namespace, day)
    );
    """,
]


#: Seconds to keep trying to open a file that other processes are setting up.
OPEN_WAIT = 10.0

#: What else a run owns, by the column naming it (checkpoints are keyed by thread = run id).
_RUN_TABLES = (
    ("ca_steps", "run_id"),
    ("ca_events", "run_id"),
    ("ca_checkpoint_writes", "thread_id"),
    ("ca_checkpoints", "thread_id"),
)


def _ts(value: datetime) -> str:
    """A sortable text timestamp: always UTC, always with microseconds (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class SqliteStore(DeferringStore):
    """WAL-mode SQLite on one connection; writes take turns under a lock."""

    def __init__(self, path: Path, *, url: str = "") -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._db: aiosqlite.Connection | None = None
        self._outbox = StepOutbox()
        self._saver: SqliteCheckpointer | None = None
        self._lock = asyncio.Lock()
        #: The day this object last removed spend counters past ``SPEND_KEPT`` (once a day).
        self._spend_pruned = ""

    async def open(self) -> None:
        try:
            # is_dir, not exists: a regular file in the way fails here, before aiosqlite starts a
            # worker thread it does not wait for when connecting fails
            if not self.path.parent.is_dir():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            # busy_timeout first: switching to WAL waits for other processes opening the file
            await self._db.execute("PRAGMA busy_timeout=10000")
            await self._set_up()
            self._saver = SqliteCheckpointer(
                self._tx, lambda: self._conn, self._outbox, self._write_records
            )
        except (OSError, aiosqlite.Error) as exc:
            await self.close()
            raise StoreError(f"cannot open the SQLite store at {self.path}: {exc}") from None

    async def _set_up(self) -> None:
        """WAL mode and migrations, tried again while other processes opening a new file at once
        hold it: some of SQLite's lock upgrades fail at once instead of waiting (busy_timeout)."""
        deadline = asyncio.get_running_loop().time() + OPEN_WAIT
        while True:
            try:
                await self._conn.execute("PRAGMA journal_mode=WAL")
                await self._conn.execute("PRAGMA synchronous=NORMAL")
                await self._migrate()
                return
            except aiosqlite.OperationalError as exc:
                if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.05)

    async def _migrate(self) -> None:
        db = self._conn
        await db.execute("CREATE TABLE IF NOT EXISTS ca_migrations (version INTEGER PRIMARY KEY)")
        # Under the write lock, so that processes opening a new file at once migrate it once.
        await db.execute("BEGIN IMMEDIATE")
        try:
            async with db.execute("SELECT COALESCE(MAX(version), 0) FROM ca_migrations") as cur:
                row = await cur.fetchone()
            done = int(row[0]) if row else 0
            for version, script in enumerate(MIGRATIONS[done:], start=done + 1):
                for statement in filter(None, (s.strip() for s in script.split(";"))):
                    await db.execute(statement)
                await db.execute("INSERT INTO ca_migrations VALUES (?)", (version,))
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")

    async def close(self) -> None:
        db, self._db, self._saver = self._db, None, None
        if db is not None:
            await db.close()

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time on the shared connection (parallel nodes write too)."""
        async with self._lock:
            db = self._conn
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        if self._saver is None:
            raise StoreError("the store is not open")
        return self._saver

    async def create_run(self, run: RunRecord) -> RunRecord:
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
                    _ts(run.created_at),
                    run.idempotency_key,
                    run.lease_owner,
                    _ts(run.lease_expires_at) if run.lease_expires_at else None,
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
            return await self._get(run_id)

    async def _get(self, run_id: str) -> RunRecord:
        async with self._conn.execute("SELECT record FROM ca_runs WHERE id=?", (run_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise RunNotFound(run_id)
        return RunRecord.model_validate_json(row[0])

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
        where = [f"{column}=?" for column, _ in filters]
        args: list[Any] = [value for _, value in filters]
        if created_by is not None:
            where.append("json_extract(record, '$.created_by.username') = ?")
            args.append(created_by)
        if namespaces is not None:
            where.append(f"namespace IN ({','.join('?' * len(namespaces))})")
            args += list(namespaces)
        if cursor:
            created, run_id = decode_cursor(cursor)
            created = _ts(datetime.fromisoformat(created))
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args += [created, created, run_id]
        sql = "SELECT record FROM ca_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        args.append(limit + 1)
        async with self._conn.execute(sql, args) as cur:
            rows = list(await cur.fetchall())
        return page_of([r[0] for r in rows], limit)

    async def count_runs(self, status: RunStatus) -> int:
        async with self._conn.execute(
            "SELECT count(*) FROM ca_runs WHERE status=?", (status.value,)
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def transition(self, run_id: str, status: RunStatus, **changes: Any) -> RunRecord:
        async with self._tx():
            run = await self._get(run_id)
            updated = apply_transition(run, status, changes)
            await self._write(updated)
        self._outbox.moved(updated)
        return updated

    async def transition_and_emit(
        self, run_id: str, status: RunStatus, kind: str, data: dict[str, Any], **changes: Any
    ) -> tuple[RunRecord, RunEvent]:
        async with self._tx() as db:
            run = await self._get(run_id)
            updated = apply_transition(run, status, changes)
            await self._write(updated)
            event = await self._insert_event(db, run_id, kind, data)
        self._outbox.moved(updated)
        return updated, event

    async def _write(self, run: RunRecord) -> None:
        await self._conn.execute(
            "UPDATE ca_runs SET status=?, lease_owner=?, lease_expires_at=?, record=? WHERE id=?",
            (
                run.status.value,
                run.lease_owner,
                _ts(run.lease_expires_at) if run.lease_expires_at else None,
                run.model_dump_json(),
                run.id,
            ),
        )

    async def record_step(
        self, step: StepRecord, *, event: tuple[str, dict[str, Any]] | None = None
    ) -> RunEvent | None:
        async with self._tx() as db:
            await self._write_records(db, step.run_id, [step], [])
            if event is None:
                return None
            return await self._insert_event(db, step.run_id, *event)

    @classmethod
    async def _write_records(
        cls, db: aiosqlite.Connection, run_id: str, steps: list[StepRecord], events: list[RunEvent]
    ) -> None:
        """Steps upserted by key, then events numbered in order (inside a write transaction)."""
        await db.executemany(
            "INSERT INTO ca_steps (run_id, node, visit, attempt, started_at, record)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (run_id, node, visit, attempt)"
            " DO UPDATE SET started_at=excluded.started_at, record=excluded.record",
            [
                (run_id, s.node, s.visit, s.attempt, _ts(s.started_at), s.model_dump_json())
                for s in steps
            ],
        )
        for event in events:
            await cls._insert_event(db, run_id, event.type, event.data, at=event.at)

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        async with self._conn.execute(
            "SELECT record FROM ca_steps WHERE run_id=? ORDER BY started_at, node, visit, attempt",
            (run_id,),
        ) as cur:
            return [StepRecord.model_validate_json(r[0]) for r in await cur.fetchall()]

    async def append_event(
        self,
        run_id: str,
        kind: str,
        data: dict[str, Any],
    ) -> RunEvent:
        async with self._tx() as db:
            return await self._insert_event(db, run_id, kind, data)

    @staticmethod
    async def _insert_event(
        db: aiosqlite.Connection,
        run_id: str,
        kind: str,
        data: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> RunEvent:
        async with db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM ca_events WHERE run_id=?", (run_id,)
        ) as cur:
            row = await cur.fetchone()
        seq = (int(row[0]) if row else 0) + 1
        event = RunEvent(run_id=run_id, seq=seq, type=kind, data=data, at=at or utcnow())
        await db.execute(
            "INSERT INTO ca_events (run_id, seq, record) VALUES (?,?,?)",
            (run_id, event.seq, event.model_dump_json()),
        )
        return event

    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]:
        async with self._conn.execute(
            "SELECT record FROM ca_events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after)
        ) as cur:
            return [RunEvent.model_validate_json(r[0]) for r in await cur.fetchall()]

    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        async with self._tx() as db:
            now = utcnow()  # after waiting for the write lock, which every writer takes
            # A queued run someone already claimed is not handed out again until its lease expires.
            capped, args = "", [_ts(now)]  # type: tuple[str, list[Any]]
            if max_per_namespace:
                capped = (
                    " AND namespace NOT IN (SELECT namespace FROM ca_runs"
                    " WHERE status IN ('queued','running') AND lease_owner IS NOT NULL"
                    " AND lease_expires_at >= ? GROUP BY namespace HAVING count(*) >= ?)"
                )
                args += [_ts(now), max_per_namespace]
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
            await self._write(run)
        return run

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

    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        async with self._tx():
            run = await self._get(run_id)
            if run.lease_owner != owner:
                return False
            await self._write(
                run.model_copy(update={"lease_expires_at": utcnow() + timedelta(seconds=ttl)})
            )
        return True

    async def release_lease(self, run_id: str, *, owner: str) -> None:
        async with self._tx():
            run = await self._get(run_id)
            if run.lease_owner == owner:
                released = run.model_copy(update={"lease_owner": None, "lease_expires_at": None})
                await self._write(released)

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
                for table, column in _RUN_TABLES:
                    await db.execute(f"DELETE FROM {table} WHERE {column}=?", (run_id,))
        return len(ids)
