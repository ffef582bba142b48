"""The managed-resources gauge follows kopf's indexes of AgentPools and Workflows, deletions
included (kopf updates an index before the handlers of the same event run)."""

from __future__ import annotations

import asyncio
from typing import Any

import kopf
from agents_operator.handlers.agentpool import pool_gone
from agents_operator.handlers.workflow import workflow_event
from agents_operator.reconciles import count_managed
from prometheus_client import REGISTRY

GAUGE = "configurable_agents_operator_managed_resources"


def managed(kind: str) -> float | None:
    return REGISTRY.get_sample_value(GAUGE, {"kind": kind})


def body(namespace: str, name: str, *, deleted: bool = False) -> dict[str, Any]:
    meta = {"namespace": namespace, "name": name, "uid": f"uid-{name}"}
    if deleted:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


def call(handler: Any, **kwargs: Any) -> None:
    """A kopf handler with the arguments kopf would pass it (the typed ones only in part)."""
    asyncio.run(handler(memo=kopf.Memo(), **kwargs))


def test_the_gauge_counts_every_object_of_the_index() -> None:
    count_managed("Test", {"team-a": ["w1", "w2"], "team-b": ["w3"]})
    assert managed("Test") == 3
    count_managed("Test", {})
    assert managed("Test") == 0


def test_pool_events_set_the_pool_count() -> None:
    pools = {("a", "p1"): [body("a", "p1")], ("b", "p2"): [body("b", "p2")]}
    call(pool_gone, event={"type": "ADDED"}, body=body("a", "p1"), pools_by_name=pools)
    assert managed("AgentPool") == 2
    # A change (a status write, say) adds or removes no pool: no walk over all of them.
    call(pool_gone, event={"type": "MODIFIED"}, body=body("a", "p1"), pools_by_name={})
    assert managed("AgentPool") == 2


def test_a_deleted_workflow_leaves_the_count() -> None:
    """The event of a deleted Workflow reconciles nothing, but the count drops."""
    remaining = {"a": [body("a", "w1")]}
    call(
        workflow_event,
        event={"type": "DELETED"},
        body=body("a", "w2", deleted=True),
        pool_capabilities={},
        pool_endpoints={},
        workflows_by_namespace=remaining,
        external_members={},
    )
    assert managed("Workflow") == 1
