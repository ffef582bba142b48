"""LangGraph checkpoints in the SQLite store's file, a step in one transaction with its records.

The SQLite twin of ``postgres.checkpoints``: a checkpoint is one row (LangGraph's serde, one
blob), a step is committed as described in ``coalescing`` (the checkpoint, the writes it does not
supersede, the step records and events the engine handed over, and a read of the run's status,
in one ``BEGIN IMMEDIATE`` transaction on the store's connection, which first checks the writer
still holds the run's lease when the engine fenced it: ``stores.fencing``), run on the
connection's thread as one call (``connection.in_thread``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple, get_checkpoint_id

from agent_runtime.stores.coalescing import Listing, PendingCheckpoint, TaskWrites
from agent_runtime.stores.fencing import holder
from agent_runtime.stores.sql.checkpoints import (
    checkpoint_row,
    list_conditions,
    upsert_checkpoint,
    write_rows,
    write_statements,
)
from agent_runtime.stores.sql.dialect import SQLITE
from agent_runtime.stores.sql.outbox import OutboxSaver, StepOutbox
from agent_runtime.stores.sqlite.connection import SqliteConnection
from agent_runtime.stores.sqlite.events import put_records
from agent_runtime.stores.sqlite.leases import lease_held

Transaction = Callable[[], AbstractAsyncContextManager[aiosqlite.Connection]]
#: ``SqliteConnection._write``: a write transaction run on the connection's thread at once.
OneHop = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]

UPSERT_WRITE, INSERT_WRITE = write_statements(SQLITE)
UPSERT_CHECKPOINT = upsert_checkpoint(SQLITE.marks(7))
_COLUMNS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
)
#: Everything of a thread but the newest checkpoint of each namespace (``keep_latest``).
_OLD = (
    "thread_id = :t AND checkpoint_id <> (SELECT max(c.checkpoint_id) FROM ca_checkpoints c"
    " WHERE c.thread_id = :t AND c.checkpoint_ns = {table}.checkpoint_ns)"
)


class SqliteCheckpointer(OutboxSaver):
    """A LangGraph saver on ``ca_checkpoints``/``ca_checkpoint_writes`` (see the module doc)."""

    def __init__(
        self,
        transaction: Transaction,
        write: OneHop,
        connection: Callable[[], aiosqlite.Connection],
        outbox: StepOutbox,
    ) -> None:
        super().__init__(outbox)
        self._transaction = transaction
        self._write = write
        self._connection = connection

    async def _write_step(
        self, thread_id: str, checkpoints: list[PendingCheckpoint], writes: list[TaskWrites]
    ) -> None:
        deferred = self.outbox.take(thread_id)
        owner = holder(thread_id)
        batches = [
            (UPSERT_WRITE if special else INSERT_WRITE, rows)
            for special, rows in write_rows(self.serde, thread_id, writes)
        ]
        if checkpoints:
            batches.append((UPSERT_CHECKPOINT, [checkpoint_row(cp) for cp in checkpoints]))
        steps = [step for step, _ in deferred if step is not None]
        events = [event for _, event in deferred if event is not None]

        def commit(conn: sqlite3.Connection) -> str | None:
            lease_held(conn, thread_id, owner)
            for sql, rows in batches:
                conn.executemany(sql, rows)
            put_records(conn, thread_id, steps, events)
            found = conn.execute("SELECT status FROM ca_runs WHERE id=?", (thread_id,))
            status = found.fetchone()
            return None if status is None else str(status[0])

        try:
            status = await self._write(commit)
        except BaseException:
            self.outbox.give_back(thread_id, deferred)
            raise
        if status is not None:
            self.outbox.statuses[thread_id] = status

    # ------------------------------------------------------------------ reading

    async def _read_one(self, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), str(conf.get("checkpoint_ns", ""))
        sql = f"SELECT {_COLUMNS} FROM ca_checkpoints WHERE thread_id=? AND checkpoint_ns=?"
        args: list[Any] = [thread_id, ns]
        if checkpoint_id := get_checkpoint_id(config):
            sql += " AND checkpoint_id=?"
            args.append(checkpoint_id)
        else:
            sql += " ORDER BY checkpoint_id DESC LIMIT 1"
        async with self._connection().execute(sql, args) as cur:
            row = await cur.fetchone()
        return None if row is None else await self._tuple(tuple(row))

    async def _read_many(self, listing: Listing) -> list[CheckpointTuple]:
        conditions = list_conditions(listing)
        where = [f"{column} {op} ?" for column, op, _ in conditions]
        args: list[Any] = [value for *_, value in conditions]
        sql = f"SELECT {_COLUMNS} FROM ca_checkpoints"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY checkpoint_id DESC"
        async with self._connection().execute(sql, args) as cur:
            rows = [tuple(r) for r in await cur.fetchall()]
        found: list[CheckpointTuple] = []
        for row in rows:
            if listing.limit is not None and len(found) >= listing.limit:
                break
            metadata = json.loads(row[6])
            if listing.filter and any(metadata.get(k) != v for k, v in listing.filter.items()):
                continue  # local files hold few checkpoints: filtered here, not in SQL
            found.append(await self._tuple(row))
        return found

    async def _tuple(self, row: tuple[Any, ...]) -> CheckpointTuple:
        thread_id, ns, checkpoint_id, parent, kind, blob, metadata = row
        async with self._connection().execute(
            "SELECT task_id, channel, type, value FROM ca_checkpoint_writes"
            " WHERE thread_id=? AND checkpoint_ns=? AND checkpoint_id=?"
            " ORDER BY task_path, task_id, idx",
            (thread_id, ns, checkpoint_id),
        ) as cur:
            writes = [
                (task, channel, self.serde.loads_typed((wkind, bytes(value or b""))))
                for task, channel, wkind, value in await cur.fetchall()
            ]
        return self.checkpoint_tuple(
            thread_id, ns, checkpoint_id, parent, (kind, bytes(blob)), metadata, writes
        )

    # ------------------------------------------------------------------ deleting

    async def _prune(self, ids: list[str], strategy: str) -> None:
        async with self._transaction() as db:
            for thread_id in ids:
                for table in ("ca_checkpoint_writes", "ca_checkpoints"):
                    if strategy == "delete":
                        await db.execute(f"DELETE FROM {table} WHERE thread_id=?", (thread_id,))
                    else:
                        old = _OLD.format(table=table)
                        await db.execute(f"DELETE FROM {table} WHERE {old}", {"t": thread_id})
                if strategy == "keep_latest":
                    await db.execute(
                        "UPDATE ca_checkpoints SET parent_checkpoint_id=NULL WHERE thread_id=?",
                        (thread_id,),
                    )


class SqliteCheckpoints(SqliteConnection):
    def _new_saver(self) -> SqliteCheckpointer:
        return SqliteCheckpointer(self._tx, self._write, lambda: self._conn, self._outbox)
