"""The SQLite store's tables, as schema versions applied in order when a file is opened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiosqlite

from agent_runtime.stores.sql.checkpoints import schema as checkpoint_schema
from agent_runtime.stores.sql.dialect import SQLITE
from agent_runtime.stores.sql.threads import schema as thread_schema

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
    checkpoint_schema(SQLITE),
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
    # Threads (conversations) and the runs of each, in order.
    thread_schema(SQLITE),
    # Claims fair across namespaces (``leases``): each namespace's queue in order, and its leases.
    """
    CREATE INDEX IF NOT EXISTS ca_runs_claimable_by_namespace
        ON ca_runs (namespace, created_at, id, lease_expires_at)
        WHERE status IN ('queued','running');
    CREATE INDEX IF NOT EXISTS ca_runs_leased ON ca_runs (namespace, lease_expires_at)
        WHERE lease_owner IS NOT NULL AND status IN ('queued','running');
    """,
]

#: Seconds to keep trying to open a file that other processes are setting up.
OPEN_WAIT = 10.0

#: What else a run owns, by the column naming it (checkpoints are keyed by thread = run id).
RUN_TABLES = (
    ("ca_steps", "run_id"),
    ("ca_events", "run_id"),
    ("ca_checkpoint_writes", "thread_id"),
    ("ca_checkpoints", "thread_id"),
    ("ca_thread_runs", "run_id"),
)


def ts(value: datetime) -> str:
    """A sortable text timestamp: always UTC, always with microseconds (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


async def set_up(db: aiosqlite.Connection) -> None:
    """WAL mode and migrations, tried again while other processes opening a new file at once
    hold it: some of SQLite's lock upgrades fail at once instead of waiting (busy_timeout)."""
    deadline = asyncio.get_running_loop().time() + OPEN_WAIT
    while True:
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await migrate(db)
            return
        except aiosqlite.OperationalError as exc:
            if "locked" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def migrate(db: aiosqlite.Connection) -> None:
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
