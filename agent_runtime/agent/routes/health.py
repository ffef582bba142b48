"""Liveness, readiness (not while draining) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agent_runtime.agent.deps import MetricsDep, RunnerDep
from agent_runtime.agent.errors import error

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request, runner: RunnerDep) -> dict[str, object] | Response:
    if runner.draining:
        return error(503, "draining", "this agent is shutting down")
    membership = getattr(request.app.state, "membership", None)
    if membership is not None and not membership.registered.is_set():
        return error(503, "not_registered", "this agent has not registered with its gateway yet")
    return {"status": "ready", "inFlight": runner.in_flight, "maxConcurrentTasks": runner.limit}


@router.get("/metrics")
async def metrics(metrics: MetricsDep) -> Response:
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
