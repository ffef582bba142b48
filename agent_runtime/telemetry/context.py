"""Which run, workflow and node the current code works for: read by log lines and spans.

Context variables follow asyncio tasks, so a value bound around a run reaches every node task
LangGraph starts for it, and nothing of another run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: The fields a log line may take from the context.
FIELDS = ("run_id", "workflow", "node")

_EMPTY: dict[str, str] = {}
_CURRENT: ContextVar[dict[str, str]] = ContextVar("configurable_agents_log_context")


@contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Within the block, log lines carry these fields (``run_id``, ``workflow``, ``node``)."""
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log context fields: {sorted(unknown)}")
    merged = {**_CURRENT.get(_EMPTY), **{k: v for k, v in fields.items() if v is not None}}
    token = _CURRENT.set(merged)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current_fields() -> dict[str, str]:
    return _CURRENT.get(_EMPTY)
