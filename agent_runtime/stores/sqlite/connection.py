"""The SQLite store's one connection: opening the file, and write transactions taking turns."""

from __future__ import annotations

import asyncio
import sqlite3
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar, cast

import aiosqlite

from agent_runtime.stores.errors import RunNotFound, StoreError
from agent_runtime.stores.records import RunRecord
from agent_runtime.stores.sql.outbox import DeferringStore, OutboxSaver, StepOutbox
from agent_runtime.stores.sqlite.schema import set_up, ts

T = TypeVar("T")


async def in_thread(db: aiosqlite.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    """``work`` on the sqlite3 connection under ``db``, in aiosqlite's thread, as one call.

    Each aiosqlite call is a hop to its thread and back (about 20 µs of CPU and a wake-up), and
    a statement with its fetch and cursor close is three: a durable step took some 25. Work
    queued this way is one hop, run as aiosqlite runs its own (``Connection._execute``)."""
    return cast(T, await db._execute(work, db._conn))  # type: ignore[no-untyped-call]


def read_record(conn: sqlite3.Connection, run_id: str) -> str | None:
    """A run's record (JSON), or None (on the connection's thread, see ``in_thread``)."""
    row = conn.execute("SELECT record FROM ca_runs WHERE id=?", (run_id,)).fetchone()
    return None if row is None else str(row[0])


def put_run(conn: sqlite3.Connection, run: RunRecord) -> None:
    """Replace a run's record and the columns kept from it (inside a write transaction, on the
    connection's thread)."""
    conn.execute(
        "UPDATE ca_runs SET status=?, lease_owner=?, lease_expires_at=?, record=? WHERE id=?",
        (
            run.status.value,
            run.lease_owner,
            ts(run.lease_expires_at) if run.lease_expires_at else None,
            run.model_dump_json(),
            run.id,
        ),
    )


class SqliteConnection(DeferringStore):
    """WAL-mode SQLite on one connection; writes take turns under a lock."""

    def __init__(self, path: Path, *, url: str = "") -> None:
        self.path = path
        self.url = url or f"sqlite:///{path}"
        self._db: aiosqlite.Connection | None = None
        self._outbox = StepOutbox()
        self._saver: OutboxSaver | None = None
        self._lock = asyncio.Lock()

    @abstractmethod
    def _new_saver(self) -> OutboxSaver: ...

    async def open(self) -> None:
        try:
            # is_dir, not exists: a regular file in the way fails here, before aiosqlite starts a
            # worker thread it does not wait for when connecting fails
            if not self.path.parent.is_dir():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            # busy_timeout first: switching to WAL waits for other processes opening the file
            await self._db.execute("PRAGMA busy_timeout=10000")
            await set_up(self._db)
            self._saver = self._new_saver()
        except (OSError, aiosqlite.Error) as exc:
            await self.close()
            raise StoreError(f"cannot open the SQLite store at {self.path}: {exc}") from None

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

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A write transaction of one hop (``in_thread``): ``work`` between BEGIN IMMEDIATE and
        COMMIT (ROLLBACK when it raises), in the store's write turn."""

        def transaction(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                done = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return done

        async with self._lock:
            return await in_thread(self._conn, transaction)

    async def _read(self, run_id: str) -> RunRecord:
        record = await in_thread(self._conn, lambda conn: read_record(conn, run_id))
        if record is None:
            raise RunNotFound(run_id)
        return RunRecord.model_validate_json(record)

    async def _write_run(self, run: RunRecord) -> None:
        """Replace a run's record and the columns kept from it (inside a write transaction)."""
        await in_thread(self._conn, lambda conn: put_run(conn, run))
