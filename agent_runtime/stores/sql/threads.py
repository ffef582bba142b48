"""The thread tables of the SQL stores and their statements, the same in each dialect.

``ca_threads`` holds each thread's record (JSON, values included) beside the columns searched
and ordered on; ``ca_thread_runs`` lists each thread's runs (and copied histories) in order,
written in the transaction that claims the thread for the run.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from agent_runtime.stores.errors import ThreadNotFound
from agent_runtime.stores.records import RunRecord, ThreadRecord
from agent_runtime.stores.sql.dialect import POSTGRES, Dialect
from agent_runtime.stores.thread_rules import ThreadQuery, after_move, claim, matches, promoted

#: A connection's ``execute`` (inside a write transaction), and a thread's read there.
Execute = Callable[[str, tuple[Any, ...]], Awaitable[object]]
Read = Callable[[str], Awaitable[ThreadRecord]]


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
        self.select = f"SELECT {d.record} FROM ca_threads WHERE id = {m}{lock}"
        self.link = f"INSERT INTO ca_thread_runs (thread_id, at, run_id) VALUES ({d.marks(3)})"
        self.links = f"SELECT at, run_id FROM ca_thread_runs WHERE thread_id = {m} ORDER BY at"
        self.delete = f"DELETE FROM ca_threads WHERE id = {m}"
        self.unlink = f"DELETE FROM ca_thread_runs WHERE thread_id = {m}"

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
        self, execute: Execute, thread: ThreadRecord, run: RunRecord, *, enqueue: bool
    ) -> RunRecord:
        """Hold ``thread`` for a new run, or queue the run on it (in the transaction inserting
        the run); the run to insert (parked when queued)."""
        held, created = claim(thread, run, enqueue=enqueue)
        await execute(self.update, self.update_row(held))
        await execute(self.link, (held.id, stamp(run.created_at), run.id))
        return created

    async def settle(
        self,
        read: Read,
        execute: Execute,
        before: RunRecord,
        after: RunRecord,
        values: dict[str, Any] | None,
    ) -> str | None:
        """What a run's move does to its thread (in the transition's transaction); the queued
        run it hands the thread to, which the caller unparks in the same transaction."""
        if after.thread_id is None:
            return None
        try:
            thread = await read(after.thread_id)
        except ThreadNotFound:
            return None  # deleted with the run still interrupted on it
        moved = after_move(thread, before, after, values)
        if moved is not None:
            await execute(self.update, self.update_row(moved))
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
