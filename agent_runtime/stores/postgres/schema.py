"""The Postgres store's tables, as schema versions applied in order under an advisory lock, and
how values are kept in their columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow
from pydantic import TypeAdapter

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.postgres.fencing import SCHEMA as FENCE_SCHEMA
from agent_runtime.stores.postgres.spend import SCHEMA as SPEND_SCHEMA
from agent_runtime.stores.sql.checkpoints import schema as checkpoint_schema
from agent_runtime.stores.sql.dialect import POSTGRES
from agent_runtime.stores.sql.threads import schema as thread_schema

Conn = psycopg.AsyncConnection[DictRow]

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
    checkpoint_schema(POSTGRES),
    # Rate limits shared by the replicas: each key's theoretical arrival time (GCRA), in seconds.
    """
    CREATE TABLE ca_rate_limits (key TEXT COLLATE "C" PRIMARY KEY, tat DOUBLE PRECISION NOT NULL);
    """,
    # Namespace spend against the platform's budgets (``spend``).
    SPEND_SCHEMA,
    # Fencing: a write of a process that lost a run's lease aborts (``fencing``).
    FENCE_SCHEMA,
    # Threads (conversations) and the runs of each, in order.
    thread_schema(POSTGRES),
    # Claims fair across namespaces (``leases``): each namespace's queue in order, and its leases.
    """
    CREATE INDEX ca_runs_claimable_by_namespace ON ca_runs (namespace, created_at, id)
        INCLUDE (lease_expires_at) WHERE status IN ('queued', 'running');
    CREATE INDEX ca_runs_leased ON ca_runs (namespace) INCLUDE (lease_expires_at)
        WHERE lease_owner IS NOT NULL AND status IN ('queued', 'running');
    DROP INDEX ca_runs_claimable;
    """,
]

#: pg_advisory_xact_lock key for MIGRATIONS.
MIGRATION_LOCK = 0x63612D6D6967  # "ca-mig"

#: What else a run owns, by the column naming it (checkpoints are keyed by thread = run id).
RUN_TABLES = (
    ("ca_steps", "run_id"),
    ("ca_events", "run_id"),
    ("ca_event_seqs", "run_id"),
    ("ca_checkpoint_writes", "thread_id"),
    ("ca_checkpoints", "thread_id"),
    ("ca_thread_runs", "run_id"),
)
_DATETIME_JSON: TypeAdapter[datetime] = TypeAdapter(datetime)


def utc(value: datetime) -> datetime:
    """Naive means UTC (as in the SQLite store)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def json_time(value: datetime | None) -> Any:
    """A datetime as its record JSON holds it."""
    return None if value is None else _DATETIME_JSON.dump_python(value, mode="json")


async def migrate(conn: Conn, shown: str) -> None:
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
                f"the PostgreSQL store at {shown} has schema version {done}; "
                f"this version of configurable-agents knows up to {len(MIGRATIONS)}"
            )
        for version, script in enumerate(MIGRATIONS[done:], start=done + 1):
            await conn.execute(script.encode())  # no parameters: several statements at once
            await conn.execute("INSERT INTO ca_migrations (version) VALUES (%s)", (version,))
