"""Run listings: newest first, in pages joined by opaque cursors, with the same filters on every
backend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent_runtime.stores.errors import InvalidCursor
from agent_runtime.stores.records import RunPage, RunRecord, RunStatus


@dataclass(frozen=True)
class RunQuery:
    """One page of a run listing as ``list_runs`` was asked for it (``namespaces`` not empty)."""

    workflow: str | None = None
    status: RunStatus | None = None
    namespaces: Sequence[str] | None = None
    created_by: str | None = None
    limit: int = 50
    cursor: str | None = None

    @property
    def filters(self) -> list[tuple[str, Any]]:
        return run_filters(self.workflow, self.status)


def encode_cursor(created_at: datetime, run_id: str) -> str:
    return f"{created_at.isoformat()}|{run_id}"


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, run_id = cursor.split("|", 1)
        datetime.fromisoformat(created)
    except ValueError:
        raise InvalidCursor("cursor: not a cursor this API gave (use nextCursor)") from None
    return created, run_id


def run_filters(workflow: str | None, status: RunStatus | None) -> list[tuple[str, Any]]:
    """(column, value) equalities of a run listing; ``workflow`` may be ``namespace/name``."""
    filters: list[tuple[str, Any]] = []
    if workflow:
        namespace, _, name = workflow.rpartition("/")
        filters.append(("workflow", name))
        if namespace:
            filters.append(("namespace", namespace))
    if status:
        filters.append(("status", RunStatus(status).value))
    return filters


def merge_pages(pages: Sequence[RunPage], limit: int) -> RunPage:
    """One page, newest first, from pages of the same listing in several namespaces.

    Each page must come from the same cursor and hold up to ``limit`` items with its own
    ``next_cursor``: whatever is not taken here is found again from the merged page's cursor.
    """
    items = sorted(
        (run for page in pages for run in page.items),
        key=lambda run: (run.created_at, run.id),
        reverse=True,
    )
    more = len(items) > limit or any(page.next_cursor for page in pages)
    items = items[:limit]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more and items else None
    return RunPage(items=items, next_cursor=next_cursor)


def page_of(records: list[str], limit: int) -> RunPage:
    """A page from up to ``limit + 1`` JSON records, newest first: one more means there is more."""
    items = [RunRecord.model_validate_json(r) for r in records[:limit]]
    more = len(records) > limit
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more and items else None
    return RunPage(items=items, next_cursor=next_cursor)
