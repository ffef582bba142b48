"""The threads of the SQL stores: their tables, statements and the concern itself, the same in
each dialect; a backend gives its connections (``Tx``) and the tables a run's rows are in.

``ca_threads`` holds each thread's record (JSON, values included) beside the columns searched
and ordered on; ``ca_thread_runs`` lists each thread's runs (and copied histories) in order,
written in the transaction that claims the thread for the run.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from agent_runtime.stores.base import ThreadChange
from agent_runtime.stores.errors import RunNotFound, ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import Actor, RunRecord, ThreadRecord
from agent_runtime.stores.sql.dialect import POSTGRES, Dialect
from agent_runtime.stores.sql.outbox import DeferringStore
from agent_runtime.stores.thread_rules import (
    ThreadQuery,
    after_move,
    claim,
    copied_run_id,
    copy_of,
    deletable,
    erasable,
    matches,
    promoted,
)


class Tx(Protocol):
    """A SQL store's connection as the thread code uses it: rows as tuples."""

    async def rows(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]: ...

    async def run(self, sql: str, args: Sequence[Any]) -> int:
        """Execute a statement; how many rows it changed (-1 when the driver does not say yet)."""
        ...


def schema(d: Dialect) -> str:
    """The thread tables (a schema version's text)."""
    return f"""
{d.create} ca_threads (
    id {d.key} PRIMARY KEY,
    namespace {d.key} NOT NULL,
    status {d.key} NOT NULL,
    creator {d.key},
    active_run_id {d.key},
    updated_at {d.key} NOT NULL,
    record {d.json} NOT NULL
);
CREATE INDEX IF NOT EXISTS ca_threads_by_updated ON ca_threads (updated_at, id);
CREATE INDEX IF NOT EXISTS ca_threads_by_namespace ON ca_threads (namespace, updated_at, id);
{d.create} ca_thread_runs (
    thread_id {d.key} NOT NULL,
    at {d.key} NOT NULL,
    run_id {d.key} NOT NULL,
    PRIMARY KEY (thread_id, at, run_id)
)
"""


def stamp(value: datetime) -> str:
    """A sortable text time: UTC, always with microseconds (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class Statements:
    """The thread statements of one dialect."""

    def __init__(self, d: Dialect) -> None:
        m = d.mark
        self.d = d
        record = f"{m}::jsonb" if d is POSTGRES else m
        self.insert = (
            "INSERT INTO ca_threads (id, namespace, status, creator, active_run_id, updated_at,"
            f" record) VALUES ({d.marks(6)}, {record}) ON CONFLICT DO NOTHING"
        )
        self.update = (
            f"UPDATE ca_threads SET status = {m}, creator = {m}, active_run_id = {m},"
            f" updated_at = {m}, record = {record} WHERE id = {m}"
        )
        lock = " FOR UPDATE" if d is POSTGRES else ""
        self.peek = f"SELECT {d.record} FROM ca_threads WHERE id = {m}"
        self.select = self.peek + lock
        self.select_run = f"SELECT {d.record} FROM ca_runs WHERE id = {m}{lock}"
        self.link = f"INSERT INTO ca_thread_runs (thread_id, at, run_id) VALUES ({d.marks(3)})"
        self.links = f"SELECT at, run_id FROM ca_thread_runs WHERE thread_id = {m} ORDER BY at"
        self.delete = f"DELETE FROM ca_threads WHERE id = {m}"
        self.unlink = f"DELETE FROM ca_thread_runs WHERE thread_id = {m}"
        #: Postgres: lock a thread's runs' rows before the thread's, in the order a transition
        #: locks them (its run's, then its thread's), so that a cancel meanwhile waits instead
        #: of deadlocking with a delete.
        self.lock_runs = (
            "SELECT id FROM ca_runs WHERE id IN (SELECT run_id FROM ca_thread_runs"
            f" WHERE thread_id = {m}) ORDER BY id FOR UPDATE"
            if d is POSTGRES
            else None
        )
        self.copy = copy_statements(d)

    async def read(self, tx: Tx, thread_id: str, *, lock: bool = True) -> ThreadRecord:
        """The thread (in a transaction, locked for the rest of it unless not ``lock``)."""
        rows = await tx.rows(self.select if lock else self.peek, (thread_id,))
        if not rows:
            raise ThreadNotFound(thread_id)
        return ThreadRecord.model_validate_json(rows[0][0])

    async def add(self, tx: Tx, thread: ThreadRecord) -> None:
        """Insert a thread; ThreadConflict when its id is taken."""
        if await tx.run(self.insert, self.row(thread)) != 1:
            raise ThreadConflict(thread.id, "already exists")

    def delete_runs(
        self, tables: Sequence[tuple[str, str]], run_ids: Sequence[str]
    ) -> list[tuple[str, tuple[Any, ...]]]:
        """The statements deleting runs and their rows in ``tables`` (table, run id column):
        one per table where the dialect takes arrays, else one per table and run."""
        m, targets = self.d.mark, [("ca_runs", "id"), *tables]
        if self.d.arrays:
            ids = list(run_ids)
            return (
                [(f"DELETE FROM {t} WHERE {c} = ANY({m})", (ids,)) for t, c in targets]
                if ids
                else []
            )
        return [(f"DELETE FROM {t} WHERE {c} = {m}", (r,)) for r in run_ids for t, c in targets]

    def row(self, thread: ThreadRecord) -> tuple[Any, ...]:
        """``insert``'s arguments."""
        return (thread.id, thread.namespace, *self.update_row(thread)[:-1])

    def update_row(self, thread: ThreadRecord) -> tuple[Any, ...]:
        """``update``'s arguments."""
        creator = thread.created_by.username if thread.created_by else None
        return (
            thread.status.value,
            creator,
            thread.active_run_id,
            stamp(thread.updated_at),
            thread.model_dump_json(),
            thread.id,
        )

    async def hold(
        self, tx: Tx, thread: ThreadRecord, run: RunRecord, *, enqueue: bool
    ) -> RunRecord:
        """Hold ``thread`` for a new run, or queue the run on it (in the transaction inserting
        the run); the run to insert (parked when queued)."""
        held, created = claim(thread, run, enqueue=enqueue)
        await tx.run(self.update, self.update_row(held))
        await tx.run(self.link, (held.id, stamp(run.created_at), run.id))
        return created

    async def settle(
        self, tx: Tx, before: RunRecord, after: RunRecord, values: dict[str, Any] | None
    ) -> str | None:
        """What a run's move does to its thread (in the transition's transaction); the queued
        run it hands the thread to, which the caller unparks in the same transaction."""
        if after.thread_id is None:
            return None
        try:
            thread = await self.read(tx, after.thread_id)
        except ThreadNotFound:
            return None  # deleted with the run still interrupted on it
        moved = after_move(thread, before, after, values)
        if moved is not None:
            await tx.run(self.update, self.update_row(moved))
        return promoted(thread, moved)

    def runs(
        self, thread_id: str, limit: int, before: str | None, inclusive: bool = False
    ) -> tuple[str, list[Any]]:
        """A page of a thread's run ids, newest first, older than the run ``before`` (or from
        it, ``inclusive``); none when ``before`` is not the thread's."""
        m = self.d.mark
        sql = f"SELECT run_id FROM ca_thread_runs WHERE thread_id = {m}"
        args: list[Any] = [thread_id]
        if before is not None:
            op = "<=" if inclusive else "<"
            sql += (
                f" AND (at, run_id) {op} (SELECT at, run_id FROM ca_thread_runs"
                f" WHERE thread_id = {m} AND run_id = {m})"
            )
            args += [thread_id, before]
        return f"{sql} ORDER BY at DESC, run_id DESC LIMIT {m}", [*args, limit]

    def search(self, query: ThreadQuery) -> tuple[str, list[Any], bool]:
        """A search's query, its arguments, and whether the metadata is left to the caller to
        match on the rows (SQLite: its JSON has no equality of values; the whole remaining
        listing is then read, where Postgres reads one page)."""
        d, m = self.d, self.d.mark
        where: list[str] = []
        args: list[Any] = []
        if query.namespaces is not None:
            condition, values = d.one_of("namespace", query.namespaces)
            where.append(condition)
            args += values
        for column, value in (("status", query.status), ("creator", query.created_by)):
            if value is not None:
                where.append(f"{column} = {m}")
                args.append(str(value))
        in_sql = d is POSTGRES
        if in_sql:
            for key, value in query.metadata.items():
                where.append(f"record->'metadata'->{m} = {m}::jsonb")
                args += [key, json.dumps(value)]
        sql = f"SELECT {d.record} FROM ca_threads"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at DESC, id DESC"
        if in_sql or not query.metadata:
            sql += f" LIMIT {m} OFFSET {m}"
            args += [query.limit, query.offset]
        return sql, args, not in_sql and bool(query.metadata)


def copy_statements(d: Dialect) -> list[str]:
    """Copy one LangGraph thread's checkpoints and writes under another id: (target, source)."""
    m = d.mark
    cp = "checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata"
    w = "checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value, task_path"
    return [
        f"INSERT INTO ca_checkpoints (thread_id, {cp}) SELECT {m}, {cp} FROM ca_checkpoints"
        f" WHERE thread_id = {m}",
        f"INSERT INTO ca_checkpoint_writes (thread_id, {w}) SELECT {m}, {w}"
        f" FROM ca_checkpoint_writes WHERE thread_id = {m}",
    ]


def page(rows: list[str], query: ThreadQuery, *, filtered: bool) -> list[ThreadRecord]:
    """The threads of a search from its rows (matched on their metadata here if ``filtered``)."""
    threads = [ThreadRecord.model_validate_json(r) for r in rows]
    if not filtered:
        return threads
    found = [t for t in threads if matches(t, query)]
    return found[query.offset : query.offset + query.limit]


class SqlThreads(DeferringStore):
    """The thread concern of a SQL store, over the backend's ``_writing`` and ``_reading``."""

    _sql: ClassVar[Statements]
    #: The tables holding a run's rows, and the column naming the run: deleted with it.
    _run_tables: ClassVar[tuple[tuple[str, str], ...]]

    @abstractmethod
    def _writing(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction."""

    @abstractmethod
    def _reading(self) -> AbstractAsyncContextManager[Tx]:
        """A connection to read from, outside any other's write transaction."""

    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        async with self._writing() as tx:
            await self._sql.add(tx, thread)
        return thread

    async def get_thread(self, thread_id: str) -> ThreadRecord:
        async with self._reading() as tx:
            return await self._sql.read(tx, thread_id, lock=False)

    async def _search_threads(self, query: ThreadQuery) -> list[ThreadRecord]:
        sql, args, filtered = self._sql.search(query)
        async with self._reading() as tx:
            rows = await tx.rows(sql, args)
        return page([r[0] for r in rows], query, filtered=filtered)

    async def _update_thread(self, thread_id: str, change: ThreadChange) -> ThreadRecord:
        async with self._writing() as tx:
            thread = change(await self._sql.read(tx, thread_id))
            await tx.run(self._sql.update, self._sql.update_row(thread))
        return thread

    async def delete_thread(self, thread_id: str) -> None:
        async with self._writing() as tx:
            if self._sql.lock_runs is not None:
                await tx.rows(self._sql.lock_runs, (thread_id,))
            deletable(await self._sql.read(tx, thread_id))
            run_ids = [run_id for _, run_id in await tx.rows(self._sql.links, (thread_id,))]
            for sql, args in self._sql.delete_runs(self._run_tables, run_ids):
                await tx.run(sql, args)
            await tx.run(self._sql.unlink, (thread_id,))
            await tx.run(self._sql.delete, (thread_id,))

    async def erase_run(self, run_id: str) -> None:
        async with self._writing() as tx:
            rows = await tx.rows(self._sql.select_run, (run_id,))
            if not rows:
                raise RunNotFound(run_id)
            erasable(RunRecord.model_validate_json(rows[0][0]))
            for sql, args in self._sql.delete_runs(self._run_tables, [run_id]):
                await tx.run(sql, args)

    async def copy_thread(
        self, thread_id: str, new_id: str, *, created_by: Actor | None = None
    ) -> ThreadRecord:
        if self._saver is not None:  # what its runs' savers still hold goes with the copy
            async with self._reading() as tx:
                links = await tx.rows(self._sql.links, (thread_id,))
            for _, run_id in links:
                await self._saver.flush(run_id)
        async with self._writing() as tx:
            copy = copy_of(await self._sql.read(tx, thread_id), new_id, created_by)
            await self._sql.add(tx, copy)
            for at, run_id in await tx.rows(self._sql.links, (thread_id,)):
                target = copied_run_id(new_id, run_id)
                for statement in self._sql.copy:
                    await tx.run(statement, (target, run_id))
                await tx.run(self._sql.link, (new_id, at, target))
        return copy

    async def _thread_runs(
        self, thread_id: str, limit: int, before: str | None, inclusive: bool = False
    ) -> list[str]:
        sql, args = self._sql.runs(thread_id, limit, before, inclusive)
        async with self._reading() as tx:
            return [r[0] for r in await tx.rows(sql, args)]
