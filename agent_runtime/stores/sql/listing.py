"""The run listing of the SQL stores: filters, a page's cursor, newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from agent_runtime.stores.paging import RunQuery, decode_cursor
from agent_runtime.stores.sql.dialect import Dialect


def list_runs_query(
    d: Dialect, stamp: Callable[[datetime], Any], query: RunQuery
) -> tuple[str, list[Any]]:
    """The query of one page (``limit + 1`` records: one more says there is more) and its
    arguments; ``stamp`` makes a cursor's time the ``created_at`` column's type."""
    where = [f"{column} = {d.mark}" for column, _ in query.filters]
    args: list[Any] = [value for _, value in query.filters]
    if query.created_by is not None:
        where.append(f"{d.creator} = {d.mark}")
        args.append(query.created_by)
    if query.namespaces is not None:
        condition, values = d.one_of("namespace", query.namespaces)
        where.append(condition)
        args += values
    if query.cursor:
        created, run_id = decode_cursor(query.cursor)
        where.append(f"(created_at, id) < ({d.mark}, {d.mark})")
        args += [stamp(datetime.fromisoformat(created)), run_id]
    sql = f"SELECT {d.record} FROM ca_runs"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY created_at DESC, id DESC LIMIT {d.mark}"
    args.append(query.limit + 1)
    return sql, args
