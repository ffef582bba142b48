"""The run listing of the SQL stores: filters, a page's cursor, newest first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from agent_runtime.stores.paging import decode_cursor, run_filters
from agent_runtime.stores.records import RunStatus
from agent_runtime.stores.sql.dialect import Dialect


def list_runs_query(
    d: Dialect,
    stamp: Callable[[datetime], Any],
    *,
    workflow: str | None,
    status: RunStatus | None,
    namespaces: Sequence[str] | None,
    created_by: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[str, list[Any]]:
    """The query of one page (``limit + 1`` records: one more says there is more) and its
    arguments; ``stamp`` makes a cursor's time the ``created_at`` column's type."""
    filters = run_filters(workflow, status)
    where = [f"{column} = {d.mark}" for column, _ in filters]
    args: list[Any] = [value for _, value in filters]
    if created_by is not None:
        where.append(f"{d.creator} = {d.mark}")
        args.append(created_by)
    if namespaces is not None:
        condition, values = d.one_of("namespace", namespaces)
        where.append(condition)
        args += values
    if cursor:
        created, run_id = decode_cursor(cursor)
        where.append(f"(created_at, id) < ({d.mark}, {d.mark})")
        args += [stamp(datetime.fromisoformat(created)), run_id]
    sql = f"SELECT {d.record} FROM ca_runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at DESC, id DESC LIMIT {d.mark}"
    args.append(limit + 1)
    return sql, args
