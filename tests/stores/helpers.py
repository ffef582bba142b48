"""Record builders and time checks shared by the run-store conformance suites (interface only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from agent_runtime.stores import RunRecord, RunStatus
from agent_runtime.stores.records import utcnow

#: A fixed instant in the past, for records whose times must sort predictably.
BASE = datetime(2024, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
#: Backends may take times from a server clock; allow this much disagreement.
SLACK = timedelta(seconds=1)


def make_run(
    run_id: str | None = None,
    *,
    workflow: str = "wf",
    namespace: str = "default",
    status: RunStatus = RunStatus.QUEUED,
    created_at: datetime | None = None,
    **fields: Any,
) -> RunRecord:
    return RunRecord(
        id=run_id or f"run-{uuid4().hex[:12]}",
        namespace=namespace,
        workflow=workflow,
        generation=1,
        spec_hash="sha256:0f1e2d",
        spec={
            "apiVersion": "agents.example.com/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": workflow, "namespace": namespace, "generation": 1},
            "spec": {"nodes": [{"name": "a"}, {"name": "b"}], "edges": [["a", "b"]]},
        },
        status=status,
        created_at=created_at or utcnow(),
        **fields,
    )


def assert_between(value: datetime | None, before: datetime, after: datetime) -> None:
    """``value`` was set between two readings of the clock (give or take SLACK)."""
    assert value is not None
    assert before - SLACK <= value <= after + SLACK, (before, value, after)
