"""Liveness, readiness (the store answers, every cluster watch has listed and is not failing)
and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_runtime.gateway.deps import GatewayDep
from agent_runtime.gateway.errors import error
from agent_runtime.gateway.gauges import refresh
from agent_runtime.gateway.openapi import Health, Readiness, errors
from agent_runtime.stores import StoreError

router = APIRouter(tags=["health"])


@router.get(
    "/healthz", operation_id="healthz", response_model=None, responses={200: {"model": Health}}
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="readyz",
    response_model=None,
    responses={200: {"model": Readiness}, **errors(503)},
)
async def readyz(gateway: GatewayDep) -> dict[str, str] | Response:
    try:
        async with asyncio.timeout(2):
            await gateway.store.list_runs(limit=1)
    except (StoreError, TimeoutError, OSError) as exc:
        return error(503, "store_unavailable", f"the run store does not answer: {exc}")
    # Until every watch has listed once the catalog or the registry is incomplete.
    pending = [path for watches in gateway.watches for path in watches.pending()]
    if pending:
        message = f"not listed yet: {', '.join(pending)}"
        return error(503, "not_synced", message, details={"pending": pending})
    # A watch that can no longer re-list or re-watch feeds a stale cache.
    failing = {path: why for watches in gateway.watches for path, why in watches.failing().items()}
    if failing:
        message = "watches failing: " + "; ".join(f"{p}: {why}" for p, why in failing.items())
        return error(503, "watch_failing", message, details={"failing": failing})
    if gateway.settings.insecure_no_auth:
        return {"status": "ready", "authentication": "disabled (--insecure-no-auth)"}
    return {"status": "ready"}


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=PlainTextResponse,
    responses={200: {"description": "Prometheus text format"}},
)
async def metrics(gateway: GatewayDep) -> Response:
    await refresh(gateway)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
