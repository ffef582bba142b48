"""Postgres step records and numbered events, as parts of one SQL statement.

Shared by the store (a step, an event, a transition with its event) and its checkpointer (a
step's checkpoint, record and events in one statement), so a run's events are numbered one way.
"""

from __future__ import annotations

from typing import Any

from agent_runtime.stores.fencing import holder
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.fencing import FENCE_CTE
from agent_runtime.stores.postgres.schema import Conn
from agent_runtime.stores.records import RunEvent, StepRecord

#: Upserts the steps of ``%(steps)s`` (a JSON array of step records) by their key.
UPSERT_STEPS = (
    "INSERT INTO ca_steps (run_id, node, visit, attempt, started_at, record)"
    " SELECT %(run)s, s->>'node', (s->>'visit')::int, (s->>'attempt')::int,"
    " (s->>'started_at')::timestamptz, s FROM jsonb_array_elements(%(steps)s::jsonb) AS s"
    " ON CONFLICT (run_id, node, visit, attempt)"
    " DO UPDATE SET started_at = excluded.started_at, record = excluded.record"
)
#: Two CTEs appending the ``%(n)s`` events of ``%(events)s`` with the next numbers of their run,
#: ``ev`` returning the numbers. The counter row stays locked until they are committed, so
#: numbers have no gaps. ``{guard}``: a FROM clause that must yield a row for anything to happen.
EVENTS = (
    "next AS ("
    " INSERT INTO ca_event_seqs AS q (run_id, last_seq) SELECT %(run)s, %(n)s {guard}"
    " ON CONFLICT (run_id) DO UPDATE SET last_seq = q.last_seq + %(n)s"
    " RETURNING last_seq - %(n)s AS base),"
    " ev AS (INSERT INTO ca_events (run_id, seq, record)"
    " SELECT %(run)s, base + e.i, e.r || jsonb_build_object('seq', base + e.i)"
    " FROM next, jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS e(r, i)"
    " RETURNING seq)"
)


def record_ctes(
    run_id: str, steps: list[StepRecord], events: list[RunEvent], *, guard: str = ""
) -> tuple[list[str], dict[str, Any]]:
    """The CTEs (``steps``, ``next``, ``ev``) writing a run's steps and events, and their
    arguments; none for nothing to write."""
    ctes: list[str] = []
    args: dict[str, Any] = {"run": run_id}
    if steps:
        latest = {(s.node, s.visit, s.attempt): s for s in steps}  # one row may change once
        args["steps"] = "[" + ",".join(s.model_dump_json() for s in latest.values()) + "]"
        ctes.append(f"steps AS ({UPSERT_STEPS} RETURNING 1)")
    if events:
        args.update(n=len(events), events="[" + ",".join(e.model_dump_json() for e in events) + "]")
        ctes.append(EVENTS.format(guard=guard))
    return ctes, args


async def write_records(
    conn: Conn, run_id: str, steps: list[StepRecord], events: list[RunEvent]
) -> list[int]:
    """Steps (upserted by key) and events (numbered in order) of one run in one statement (its
    lease checked by ``ca_fence`` in it when the run is fenced); returns the events' numbers."""
    ctes, args = record_ctes(run_id, steps, events)
    if not ctes:
        return []
    select = "SELECT seq FROM ev" if events else "SELECT 1 AS seq"
    if owner := holder(run_id):
        ctes.insert(0, FENCE_CTE)
        args.update(fence_run=run_id, fence_owner=owner)
        # The fence is the outer side, so it runs even where nothing else is read.
        select = "SELECT 1 AS seq FROM fence"
        if events:
            select = "SELECT ev.seq FROM fence LEFT JOIN ev ON true"
    cur = await conn.execute(f"WITH {', '.join(ctes)} {select}", args)
    rows = await cur.fetchall()
    return sorted(int(row["seq"]) for row in rows if row["seq"] is not None) if events else []


class PostgresEvents(PostgresConnection):
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
