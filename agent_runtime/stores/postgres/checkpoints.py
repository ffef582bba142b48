"""LangGraph checkpoints in PostgreSQL, written with the run's step records in one statement.

LangGraph's own ``AsyncPostgresSaver`` costs two transactions a step (the task's writes, then the
checkpoint), serialises off-thread and splits state into blob rows. This saver keeps a checkpoint
in one row (LangGraph's serde, one blob) and commits a step (see ``coalescing``) as one statement
that writes the checkpoint, the step records and events the engine handed over for the run
(``StepOutbox``) and reads the run's status (so checking for a cancel costs no read); a fenced
run's statement checks its lease first (``ca_fence``, ``postgres.fencing``). Writes not
superseded and older checkpoints go before it in the same pipeline: one transaction, one round
trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple, get_checkpoint_id
from psycopg.rows import DictRow

from agent_runtime.stores.coalescing import Listing, PendingCheckpoint, TaskWrites
from agent_runtime.stores.fencing import holder
from agent_runtime.stores.postgres.connection import PostgresConnection
from agent_runtime.stores.postgres.events import record_ctes
from agent_runtime.stores.postgres.fencing import FENCE_CTE
from agent_runtime.stores.postgres.schema import Conn
from agent_runtime.stores.sql.checkpoints import (
    checkpoint_row,
    list_conditions,
    upsert_checkpoint,
    write_rows,
    write_statements,
)
from agent_runtime.stores.sql.dialect import POSTGRES
from agent_runtime.stores.sql.outbox import OutboxSaver, StepOutbox

ConnectionFactory = Callable[[], AbstractAsyncContextManager[Conn]]

UPSERT_WRITE, INSERT_WRITE = write_statements(POSTGRES)
UPSERT_CHECKPOINT = upsert_checkpoint("%s, %s, %s, %s, %s, %s, %s::jsonb")
_SELECT = (
    "SELECT c.thread_id, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.type,"
    " c.checkpoint, c.metadata::text AS metadata, w.tasks, w.channels, w.types, w.blobs"
    " FROM ca_checkpoints c LEFT JOIN LATERAL (SELECT"
    " array_agg(task_id ORDER BY task_path, task_id, idx) AS tasks,"
    " array_agg(channel ORDER BY task_path, task_id, idx) AS channels,"
    " array_agg(type ORDER BY task_path, task_id, idx) AS types,"
    " array_agg(value ORDER BY task_path, task_id, idx) AS blobs FROM ca_checkpoint_writes w"
    " WHERE w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns"
    " AND w.checkpoint_id = c.checkpoint_id) w ON true"
)
_READ_STATUS = "SELECT status FROM ca_runs WHERE id = %(run)s"
#: The status read after the fence (``FENCE_CTE``), which must run whether or not the run exists.
_READ_FENCED_STATUS = f"SELECT ({_READ_STATUS}) AS status FROM fence"
#: The checkpoint's upsert with named arguments, to be a CTE of the step's one statement.
_CHECKPOINT_ARGS = ("c_thread", "c_ns", "c_id", "c_parent", "c_type", "c_blob", "c_meta")
_CHECKPOINT_CTE = upsert_checkpoint(", ".join(f"%({a})s" for a in _CHECKPOINT_ARGS) + "::jsonb")
#: Each ``keep_latest`` target: every checkpoint but the newest of its namespace, and its writes.
_PRUNE_OLD = (
    "WITH latest AS (SELECT checkpoint_ns, max(checkpoint_id) AS id FROM ca_checkpoints"
    " WHERE thread_id = %(t)s GROUP BY checkpoint_ns)"
    " DELETE FROM {table} x USING latest"
    " WHERE x.thread_id = %(t)s AND x.checkpoint_ns = latest.checkpoint_ns"
    " AND x.checkpoint_id <> latest.id"
)


class PostgresCheckpointer(OutboxSaver):
    """A LangGraph saver on ``ca_checkpoints``/``ca_checkpoint_writes`` (see the module doc)."""

    def __init__(self, connection: ConnectionFactory, outbox: StepOutbox) -> None:
        super().__init__(outbox)
        self._connection = connection

    # ------------------------------------------------------------------ writing

    async def _write_step(
        self, thread_id: str, checkpoints: list[PendingCheckpoint], writes: list[TaskWrites]
    ) -> None:
        """One transaction: the writes (and older checkpoints) pipelined before one statement
        that writes the newest checkpoint, the run's steps and events and reads its status."""
        deferred = self.outbox.take(thread_id)
        statements = self._rows(thread_id, writes)
        if len(checkpoints) > 1:
            statements.append((UPSERT_CHECKPOINT, [checkpoint_row(cp) for cp in checkpoints[:-1]]))
        steps = [step for step, _ in deferred if step is not None]
        events = [event for _, event in deferred if event is not None]
        ctes, args = record_ctes(thread_id, steps, events)
        if checkpoints:
            ctes.insert(0, f"c AS ({_CHECKPOINT_CTE} RETURNING 1)")
            args.update(zip(_CHECKPOINT_ARGS, checkpoint_row(checkpoints[-1]), strict=True))
        status = _READ_STATUS
        if owner := holder(thread_id):
            ctes.insert(0, FENCE_CTE)
            args.update(fence_run=thread_id, fence_owner=owner)
            status = _READ_FENCED_STATUS
        last = (f"WITH {', '.join(ctes)} {status}" if ctes else status, args)
        try:
            found = await self._send(statements, last)
        except BaseException:
            self.outbox.give_back(thread_id, deferred)
            raise
        if found is not None:
            self.outbox.statuses[thread_id] = str(found["status"])

    async def _send(
        self, statements: list[tuple[str, list[tuple[Any, ...]]]], last: tuple[str, dict[str, Any]]
    ) -> DictRow | None:
        async with self._connection() as conn:
            if not statements:  # one statement: a transaction of its own (autocommit)
                return await (await conn.execute(*last)).fetchone()
            # No BEGIN: a pipeline is one implicit transaction up to its sync (one round trip).
            async with conn.pipeline():
                for sql, rows in statements:
                    async with conn.cursor() as cur:
                        await cur.executemany(sql, rows)
                status = await conn.execute(*last)
            return await status.fetchone()

    def _rows(
        self, thread_id: str, staged: list[TaskWrites]
    ) -> list[tuple[str, list[tuple[Any, ...]]]]:
        return [
            (UPSERT_WRITE if special else INSERT_WRITE, rows)
            for special, rows in write_rows(self.serde, thread_id, staged)
        ]

    # ------------------------------------------------------------------ reading

    async def _read_one(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        args: list[Any] = [str(conf["thread_id"]), conf.get("checkpoint_ns", "")]
        sql = _SELECT + " WHERE c.thread_id = %s AND c.checkpoint_ns = %s"
        if checkpoint_id := get_checkpoint_id(config):
            sql += " AND c.checkpoint_id = %s"
            args.append(checkpoint_id)
        else:
            sql += " ORDER BY c.checkpoint_id DESC LIMIT 1"
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            row = await cur.fetchone()
        return None if row is None else self._tuple(row)

    async def _read_many(self, listing: Listing) -> list[CheckpointTuple]:
        conditions = list_conditions(listing)
        where = [f"c.{column} {op} %s" for column, op, _ in conditions]
        args: list[Any] = [value for *_, value in conditions]
        if listing.filter:
            where.append("c.metadata @> %s::jsonb")
            args.append(json.dumps(listing.filter))
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY c.checkpoint_id DESC"
        if listing.limit is not None:
            sql += " LIMIT %s"
            args.append(int(listing.limit))
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            rows = await cur.fetchall()
        return [self._tuple(row) for row in rows]

    def _tuple(self, row: DictRow) -> CheckpointTuple:
        thread_id, ns = row["thread_id"], row["checkpoint_ns"]
        parent = row["parent_checkpoint_id"]
        writes = [
            (task_id, channel, self.serde.loads_typed((kind, bytes(blob or b""))))
            for task_id, channel, kind, blob in zip(
                row["tasks"] or [],
                row["channels"] or [],
                row["types"] or [],
                row["blobs"] or [],
                strict=True,
            )
        ]
        checkpoint = (row["type"], bytes(row["checkpoint"]))
        return self.checkpoint_tuple(
            thread_id, ns, row["checkpoint_id"], parent, checkpoint, row["metadata"], writes
        )

    # ------------------------------------------------------------------ deleting

    async def _prune(self, ids: list[str], strategy: str) -> None:
        async with self._connection() as conn, conn.transaction():
            if strategy == "delete":
                for table in ("ca_checkpoint_writes", "ca_checkpoints"):
                    await conn.execute(
                        f"DELETE FROM {table} WHERE thread_id = ANY(%s)".encode(), (ids,)
                    )
                return
            for thread_id in ids:
                for table in ("ca_checkpoint_writes", "ca_checkpoints"):
                    await conn.execute(_PRUNE_OLD.format(table=table).encode(), {"t": thread_id})
                await conn.execute(
                    "UPDATE ca_checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = %s",
                    (thread_id,),
                )


class PostgresCheckpoints(PostgresConnection):
    def _new_saver(self) -> PostgresCheckpointer:
        return PostgresCheckpointer(self._connection, self._outbox)
