"""The Workflows this gateway serves."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from agent_runtime.auth import Identity
from agent_runtime.gateway.access import Access
from agent_runtime.gateway.catalog import Entry
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.openapi import WorkflowList, errors
from agent_runtime.spec import HumanNode, RouterNode
from agent_runtime.spec.mermaid import to_mermaid

router = APIRouter(tags=["workflows"])


def served(entry: Entry) -> dict[str, Any] | None:
    """The operator's view of who serves the workflow, from its status (cluster, or a file's).

    ``capabilities``: capability -> ``{"pools": [...], "readyEndpoints": n}`` as the operator
    resolved them; None when no status was written (files run on in-process agents).
    """
    status = entry.workflow.status if entry.workflow is not None else None
    if status is None:
        return None
    return {
        "observedGeneration": status.observed_generation,
        "capabilities": {
            name: _serving(found) for name, found in sorted(status.capabilities.items())
        },
    }


def _serving(found: Any) -> dict[str, Any]:
    """One capability's entry, read leniently: a status is written by hand in files."""
    found = found if isinstance(found, dict) else {}
    pools = found.get("pools")
    ready = found.get("readyEndpoints")
    serving = {
        "pools": [str(p) for p in pools] if isinstance(pools, list) else [],
        "readyEndpoints": ready if isinstance(ready, int) and ready >= 0 else 0,
    }
    external = found.get("externalMembers")
    if isinstance(external, int) and external > 0:  # agents outside the cluster serving it
        serving["externalMembers"] = external
    return serving


def described(entry: Entry) -> dict[str, Any]:
    """The entry plus what a dashboard draws: its graph, its state fields and the capabilities.

    ``status`` (when the Workflow has one) says which AgentPools serve each capability.
    """
    out = entry.describe()
    if (status := served(entry)) is not None:
        out["status"] = status
    if entry.workflow is not None:
        spec = entry.workflow.spec
        out["graph"] = to_mermaid(spec)
        out["capabilities"] = sorted(
            {n.capability for n in spec.nodes if not isinstance(n, RouterNode | HumanNode)}
        )
        out["state"] = {
            k: {**f.json_schema(), "reducer": f.reducer, "zero": f.zero()}
            for k, f in spec.state.items()
        }
    return out


async def _visible(access: Access, caller: Identity, entry: Entry) -> bool:
    """Shown to those who may start its runs or read its namespace's runs."""
    return await access.may(caller, "create", entry.namespace, entry.name) or await access.may(
        caller, "list", entry.namespace
    )


@router.get(
    "/v1/workflows",
    operation_id="listWorkflows",
    response_model=None,
    responses={200: {"model": WorkflowList}, **errors(401, 503)},
)
async def list_workflows(gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    entries = gateway.catalog.entries()
    shown = await asyncio.gather(*(_visible(gateway.access, caller, e) for e in entries))
    return {"items": [described(entry) for entry, ok in zip(entries, shown, strict=True) if ok]}
