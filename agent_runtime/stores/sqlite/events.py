"""A SQLite run's step records (upserted by their key) and events (numbered in order)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import aiosqlite

from agent_runtime.stores.fencing import holder
from agent_runtime.stores.records import RunEvent, StepRecord, utcnow
from agent_runtime.stores.sqlite.connection import SqliteConnection, in_thread
from agent_runtime.stores.sqlite.leases import lease_held
from agent_runtime.stores.sqlite.schema import ts


def put_records(
    conn: sqlite3.Connection, run_id: str, steps: list[StepRecord], events: list[RunEvent]
) -> None:
    """Steps upserted by key, then events numbered in order (inside a write transaction, on
    the connection's thread: ``connection.in_thread``)."""
    conn.executemany(
        "INSERT INTO ca_steps (run_id, node, visit, attempt, started_at, record)"
        " VALUES (?,?,?,?,?,?) ON CONFLICT (run_id, node, visit, attempt)"
        " DO UPDATE SET started_at=excluded.started_at, record=excluded.record",
        [
            (run_id, s.node, s.visit, s.attempt, ts(s.started_at), s.model_dump_json())
            for s in steps
        ],
    )
    for event in events:
        put_event(conn, run_id, event.type, event.data, at=event.at)


def put_event(
    conn: sqlite3.Connection,
    run_id: str,
    kind: str,
    data: dict[str, Any],
    *,
    at: datetime | None = None,
) -> RunEvent:
    """The run's next event (inside a write transaction, which numbers them one at a time; on
    the connection's thread)."""
    row = conn.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM ca_events WHERE run_id=?", (run_id,)
    ).fetchone()
    seq = (int(row[0]) if row else 0) + 1
    event = RunEvent(run_id=run_id, seq=seq, type=kind, data=data, at=at or utcnow())
    conn.execute(
        "INSERT INTO ca_events (run_id, seq, record) VALUES (?,?,?)",
        (run_id, event.seq, event.model_dump_json()),
    )
    return event


async def insert_event(
    db: aiosqlite.Connection, run_id: str, kind: str, data: dict[str, Any]
) -> RunEvent:
    """``put_event`` from the event loop (one hop)."""
    return await in_thread(db, lambda conn: put_event(conn, run_id, kind, data))


class SqliteEvents(SqliteConnection):
    async def record_step(
        self, step: StepRecord, *, event: tuple[str, dict[str, Any]] | None = None
    ) -> RunEvent | None:
        owner = holder(step.run_id)

        def write(conn: sqlite3.Connection) -> RunEvent | None:
            lease_held(conn, step.run_id, owner)
            put_records(conn, step.run_id, [step], [])
            return None if event is None else put_event(conn, step.run_id, *event)

        return await self._write(write)

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        async with self._conn.execute(
            "SELECT record FROM ca_steps WHERE run_id=? ORDER BY started_at, node, visit, attempt",
            (run_id,),
        ) as cur:
            return [StepRecord.model_validate_json(r[0]) for r in await cur.fetchall()]

    async def append_event(self, run_id: str, kind: str, data: dict[str, Any]) -> RunEvent:
        owner = holder(run_id)

        def write(conn: sqlite3.Connection) -> RunEvent:
            lease_held(conn, run_id, owner)
            return put_event(conn, run_id, kind, data)

        return await self._write(write)

    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]:
        async with self._conn.execute(
            "SELECT record FROM ca_events WHERE run_id=? AND seq>? ORDER BY seq", (run_id, after)
        ) as cur:
            return [RunEvent.model_validate_json(r[0]) for r in await cur.fetchall()]
