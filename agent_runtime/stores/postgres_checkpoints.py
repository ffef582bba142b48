"""LangGraph checkpoints in PostgreSQL, written with the run's step records in one transaction.

LangGraph's own ``AsyncPostgresSaver`` costs two transactions a step (the task's writes, then the
checkpoint), serialises off-thread and splits state into blob rows. This saver keeps a checkpoint
in one row (LangGraph's serde, one blob) and coalesces a task's writes into the transaction of the
checkpoint that follows them: ``aput_writes`` stages its rows and waits; the next ``aput`` of the
same thread commits them with the checkpoint, plus whatever step records and events the engine
handed over for that run (``StepOutbox``), plus a read of the run's status, pipelined in one round
trip. Writes that no checkpoint follows soon (a fan-out branch finishing while others still run,
an interrupt) are committed on their own after ``WRITES_FLUSH_DELAY``. ``aput_writes`` returns
only once its rows are committed, which is when LangGraph counts them durable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_serializable_checkpoint_metadata,
)
from psycopg.rows import DictRow

from agent_runtime.stores.base import RunEvent, StepRecord

Conn = psycopg.AsyncConnection[DictRow]
ConnectionFactory = Callable[[], AbstractAsyncContextManager[Conn]]
Deferred = tuple[StepRecord | None, RunEvent | None]

#: Seconds staged writes wait for the checkpoint that would carry them before going alone.
WRITES_FLUSH_DELAY = 0.005

SCHEMA = """
CREATE TABLE ca_checkpoints (
    thread_id TEXT COLLATE "C" NOT NULL,
    checkpoint_ns TEXT COLLATE "C" NOT NULL DEFAULT '',
    checkpoint_id TEXT COLLATE "C" NOT NULL,
    parent_checkpoint_id TEXT COLLATE "C",
    type TEXT NOT NULL,
    checkpoint BYTEA NOT NULL,
    metadata JSONB NOT NULL DEFAULT '{}',
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
CREATE TABLE ca_checkpoint_writes (
    thread_id TEXT COLLATE "C" NOT NULL,
    checkpoint_ns TEXT COLLATE "C" NOT NULL DEFAULT '',
    checkpoint_id TEXT COLLATE "C" NOT NULL,
    task_id TEXT COLLATE "C" NOT NULL,
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT,
    value BYTEA,
    task_path TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
"""

_INSERT_WRITE = (
    "INSERT INTO ca_checkpoint_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, idx,"
    " channel, type, value, task_path) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id, task_id, idx) DO "
)
#: Special writes (errors, interrupts, resumes) replace their slot; regular ones are idempotent.
UPSERT_WRITE = _INSERT_WRITE + "UPDATE SET channel = excluded.channel, type = excluded.type,"
UPSERT_WRITE += " value = excluded.value"
INSERT_WRITE = _INSERT_WRITE + "NOTHING"
UPSERT_CHECKPOINT = (
    "INSERT INTO ca_checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id,"
    " type, checkpoint, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)"
    " ON CONFLICT (thread_id, checkpoint_ns, checkpoint_id) DO UPDATE SET"
    " type = excluded.type, checkpoint = excluded.checkpoint, metadata = excluded.metadata"
)
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
_READ_STATUS = "SELECT status FROM ca_runs WHERE id = %s"
#: Each ``keep_latest`` target: every checkpoint but the newest of its namespace, and its writes.
_PRUNE_OLD = (
    "WITH latest AS (SELECT checkpoint_ns, max(checkpoint_id) AS id FROM ca_checkpoints"
    " WHERE thread_id = %(t)s GROUP BY checkpoint_ns)"
    " DELETE FROM {table} x USING latest"
    " WHERE x.thread_id = %(t)s AND x.checkpoint_ns = latest.checkpoint_ns"
    " AND x.checkpoint_id <> latest.id"
)


@dataclass
class StepOutbox:
    """Step records and events the engine hands over, per run, to ride with its next commit.

    ``write`` is the statement pair the store uses for one step and its event (so the numbering
    of events stays the store's); ``statuses`` receives the run status read in that commit.
    """

    write: Callable[[Conn, str, list[StepRecord], list[RunEvent]], Awaitable[Any]]
    pending: dict[str, list[Deferred]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)

    def add(self, run_id: str, step: StepRecord | None, event: RunEvent | None) -> None:
        self.pending.setdefault(run_id, []).append((step, event))

    def take(self, run_id: str) -> list[Deferred]:
        return self.pending.pop(run_id, [])


@dataclass
class _TaskWrites:
    """What one ``aput_writes`` call was given, serialised only if it is written."""

    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    task_path: str
    writes: Sequence[tuple[str, Any]]


@dataclass
class _Staged:
    """Writes of one thread waiting for a commit; ``done`` resolves when they are durable."""

    writes: list[_TaskWrites]
    done: asyncio.Future[None]
    timer: asyncio.TimerHandle | None = None


class PostgresCheckpointer(BaseCheckpointSaver[str]):
    """A LangGraph saver on ``ca_checkpoints``/``ca_checkpoint_writes`` (see the module doc)."""

    def __init__(self, connection: ConnectionFactory, outbox: StepOutbox) -> None:
        super().__init__()
        self._connection = connection
        self.outbox = outbox
        self._staged: dict[str, _Staged] = {}
        self._inputs: dict[str, list[tuple[Any, ...]]] = {}

    # ------------------------------------------------------------------ writing

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), conf.get("checkpoint_ns", "")
        kind, blob = self.serde.dumps_typed(checkpoint)
        meta = json.dumps(get_serializable_checkpoint_metadata(config, metadata))
        row = (thread_id, ns, checkpoint["id"], conf.get("checkpoint_id"), kind, blob, meta)
        next_config: RunnableConfig = {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }
        if metadata.get("source") == "input":
            # A run's input, before any step: it goes with the commit of the first step. Lost
            # in a crash before that, it is given again (the run record holds it).
            self._inputs.setdefault(thread_id, []).append(row)
            return next_config
        staged = self._take(thread_id)
        # The writes this checkpoint was made from are in it: LangGraph reads a checkpoint's
        # pending writes only to go on from it, and it never goes on from a superseded one.
        parent = conf.get("checkpoint_id")
        others = [
            w
            for w in (staged.writes if staged else [])
            if (w.checkpoint_ns, w.checkpoint_id) != (ns, parent)
        ]
        statements = [*self._rows(thread_id, others), (UPSERT_CHECKPOINT, [row])]
        try:
            await self._commit(thread_id, statements)
        except BaseException as exc:
            if staged:
                _settle(staged.done, exc)
            raise
        if staged:
            _settle(staged.done, None)
        return next_config

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        ns, checkpoint_id = conf.get("checkpoint_ns", ""), conf["checkpoint_id"]
        staged = self._staged.get(thread_id)
        if staged is None:
            loop = asyncio.get_running_loop()
            staged = self._staged[thread_id] = _Staged([], loop.create_future())
            staged.timer = loop.call_later(WRITES_FLUSH_DELAY, self._flush_later, thread_id)
        staged.writes.append(_TaskWrites(ns, checkpoint_id, task_id, task_path, writes))
        await asyncio.shield(staged.done)

    def _rows(
        self, thread_id: str, staged: list[_TaskWrites]
    ) -> list[tuple[str, list[tuple[Any, ...]]]]:
        statements: list[tuple[str, list[tuple[Any, ...]]]] = []
        for task in staged:
            rows = []
            for position, (channel, value) in enumerate(task.writes):
                kind, blob = self.serde.dumps_typed(value)
                idx = WRITES_IDX_MAP.get(channel, position)
                rows.append(
                    (
                        thread_id,
                        task.checkpoint_ns,
                        task.checkpoint_id,
                        task.task_id,
                        idx,
                        channel,
                        kind,
                        blob,
                        task.task_path,
                    )
                )
            special = all(channel in WRITES_IDX_MAP for channel, _ in task.writes)
            if rows:
                statements.append((UPSERT_WRITE if special else INSERT_WRITE, rows))
        return statements

    def _take(self, thread_id: str) -> _Staged | None:
        staged = self._staged.pop(thread_id, None)
        if staged is not None and staged.timer is not None:
            staged.timer.cancel()
        return staged

    def _flush_later(self, thread_id: str) -> None:
        staged = self._take(thread_id)
        if staged is not None:
            task = asyncio.get_running_loop().create_task(self._flush(thread_id, staged))
            staged.done.add_done_callback(lambda _: task)  # keep a reference until it is done

    async def _flush(self, thread_id: str, staged: _Staged) -> None:
        try:
            await self._commit(thread_id, self._rows(thread_id, staged.writes))
        except BaseException as exc:
            _settle(staged.done, exc)
        else:
            _settle(staged.done, None)

    async def flush(self, thread_id: str) -> None:
        """Commit what waits for ``thread_id`` now: staged writes and handed-over steps."""
        staged = self._take(thread_id)
        if staged is not None:
            await self._flush(thread_id, staged)
            await staged.done
        elif self.outbox.pending.get(thread_id) or thread_id in self._inputs:
            await self._commit(thread_id, [])

    def forget(self, thread_id: str) -> None:
        """Drop what waits for a run this process stops executing (after a failed ``flush``)."""
        self._inputs.pop(thread_id, None)
        self.outbox.pending.pop(thread_id, None)
        self.outbox.statuses.pop(thread_id, None)

    async def _before_reading(self, thread_id: str | None) -> None:
        """Reads see every checkpoint put so far (``None``: of every thread)."""
        for waiting in [thread_id] if thread_id is not None else list(self._inputs):
            if waiting in self._inputs:
                await self._commit(waiting, [])

    async def _commit(
        self, thread_id: str, statements: list[tuple[str, list[tuple[Any, ...]]]]
    ) -> None:
        """One transaction, one round trip: the statements, the run's steps, its status read."""
        # With no BEGIN, the pipeline is one implicit transaction up to its sync, which is one
        # round trip.
        deferred = self.outbox.take(thread_id)
        inputs = self._inputs.pop(thread_id, None)
        if inputs:
            statements = [(UPSERT_CHECKPOINT, inputs), *statements]
        # The run's status is read by the statement of the checkpoint, when there is one.
        read_status = (_READ_STATUS, (thread_id,))
        if statements and statements[-1][0] == UPSERT_CHECKPOINT and len(statements[-1][1]) == 1:
            sql, (row,) = statements.pop()
            read_status = (f"WITH c AS ({sql} RETURNING 1) {_READ_STATUS}", (*row, thread_id))
        try:
            found = await self._send(thread_id, statements, read_status, deferred)
        except BaseException:
            # The steps may belong to writes that a later commit carries (a fan-out branch's):
            # they go with the next commit of the run (or ``flush``, or are dropped with it).
            if deferred:
                self.outbox.pending[thread_id] = deferred + self.outbox.pending.get(thread_id, [])
            if inputs:
                self._inputs[thread_id] = inputs + self._inputs.get(thread_id, [])
            raise
        if found is not None:
            self.outbox.statuses[thread_id] = str(found["status"])

    async def _send(
        self,
        thread_id: str,
        statements: list[tuple[str, list[tuple[Any, ...]]]],
        read_status: tuple[str, tuple[Any, ...]],
        deferred: list[Deferred],
    ) -> DictRow | None:
        async with self._connection() as conn:
            async with conn.pipeline():
                for sql, rows in statements:
                    if len(rows) == 1:
                        await conn.execute(sql, rows[0])
                    else:
                        async with conn.cursor() as cur:
                            await cur.executemany(sql, rows)
                status = await conn.execute(*read_status)
                if deferred:
                    steps = [step for step, _ in deferred if step is not None]
                    events = [event for _, event in deferred if event is not None]
                    await self.outbox.write(conn, thread_id, steps, events)
            return await status.fetchone()

    # ------------------------------------------------------------------ reading

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        await self._before_reading(str(conf["thread_id"]))
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

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - LangGraph's signature
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        await self._before_reading(str(config["configurable"]["thread_id"]) if config else None)
        where: list[str] = []
        args: list[Any] = []
        if config:
            conf = config["configurable"]
            where.append("c.thread_id = %s")
            args.append(str(conf["thread_id"]))
            if (ns := conf.get("checkpoint_ns")) is not None:
                where.append("c.checkpoint_ns = %s")
                args.append(ns)
            if checkpoint_id := get_checkpoint_id(config):
                where.append("c.checkpoint_id = %s")
                args.append(checkpoint_id)
        if filter:
            where.append("c.metadata @> %s::jsonb")
            args.append(json.dumps(filter))
        if before is not None and (before_id := get_checkpoint_id(before)):
            where.append("c.checkpoint_id < %s")
            args.append(before_id)
        sql = _SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY c.checkpoint_id DESC"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(int(limit))
        async with self._connection() as conn:
            cur = await conn.execute(sql.encode(), args)
            rows = await cur.fetchall()
        for row in rows:
            yield self._tuple(row)

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
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": row["checkpoint_id"],
                }
            },
            checkpoint=self.serde.loads_typed((row["type"], bytes(row["checkpoint"]))),
            metadata=json.loads(row["metadata"]),
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": parent,
                    }
                }
                if parent
                else None
            ),
            pending_writes=writes,
        )

    # ------------------------------------------------------------------ deleting

    async def adelete_thread(self, thread_id: str) -> None:
        await self.aprune([str(thread_id)], strategy="delete")

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``delete``: every checkpoint and write of the threads. ``keep_latest``: the newest
        checkpoint of each namespace and its writes stay (with no parent left)."""
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
        if strategy not in ("delete", "keep_latest"):
            raise ValueError(f"Unknown prune strategy: {strategy!r}")
        ids = [str(t) for t in thread_ids]
        for thread_id in ids:
            await self._before_reading(thread_id)
        if not ids:
            return
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


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
        future.exception()  # retrieved: a flush nobody waits for any more is not an error
