"""The Workflows this gateway serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_runtime.gateway.catalog import Entry
from agent_runtime.gateway.deps import GatewayDep
from agent_runtime.spec import HumanNode, RouterNode
from agent_runtime.spec.mermaid import to_mermaid

router = APIRouter(tags=["workflows"])


def described(entry: Entry) -> dict[str, Any]:
    """The entry plus what a dashboard draws: its graph, its state fields and the capabilities."""
    out = entry.describe()
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


@router.get("/v1/workflows")
async def list_workflows(gateway: GatewayDep) -> dict[str, Any]:
    return {"items": [described(entry) for entry in gateway.catalog.entries()]}
