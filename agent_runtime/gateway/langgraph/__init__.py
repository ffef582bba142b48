"""The LangGraph server API at ``/langgraph``, so ``langgraph_sdk`` clients, ``RemoteGraph``
and the UIs built on them work against this gateway unchanged. Every route authenticates its
caller and asks RBAC like the Runs API; a run started here is a run like any other."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from agent_runtime.gateway.deps import storable_text
from agent_runtime.gateway.langgraph import assistants, runs, threads
from agent_runtime.gateway.openapi import errors

router = APIRouter(
    prefix="/langgraph",
    dependencies=[Depends(storable_text)],
    responses=errors(401, 403, 404, 409, 422, 429, 503),
)
for module in (assistants, threads, runs):
    router.include_router(module.router)

__all__ = ["router"]
