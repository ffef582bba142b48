"""The Workflows this gateway serves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from agent_runtime.gateway.deps import GatewayDep

router = APIRouter(tags=["workflows"])


@router.get("/v1/workflows")
async def list_workflows(gateway: GatewayDep) -> dict[str, Any]:
    return {"items": [entry.describe() for entry in gateway.catalog.entries()]}
