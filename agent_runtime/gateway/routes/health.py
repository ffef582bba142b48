"""Liveness, readiness (the store answers) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_runtime.gateway.deps import GatewayDep
from agent_runtime.gateway.errors import error
from agent_runtime.stores import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(gateway: GatewayDep) -> dict[str, str] | Response:
    try:
        async with asyncio.timeout(2):
            await gateway.store.list_runs(limit=1)
    except (StoreError, TimeoutError, OSError) as exc:
        return error(503, "store_unavailable", f"the run store does not answer: {exc}")
    return {"status": "ready"}


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
