"""OpenAI-compatible chat at ``/openai/v1``: each conversation Workflow the caller may run is a
model named ``namespace/name``, so chat front ends and the ``openai`` client reach it unchanged.
Authentication, RBAC and admission are the Runs API's; errors are OpenAI's error object."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from agent_runtime.gateway.catalog import Entry
from agent_runtime.gateway.deps import CallerDep, GatewayDep, storable_text
from agent_runtime.gateway.openai_api.completions import (
    chat_field,
    chat_model,
    completion,
    model_name,
    start,
    stream,
)
from agent_runtime.gateway.openai_api.errors import OpenAIRoute
from agent_runtime.gateway.openai_api.wire import ChatRequest

router = APIRouter(
    prefix="/openai/v1",
    tags=["openai"],
    route_class=OpenAIRoute,
    dependencies=[Depends(storable_text)],
    include_in_schema=False,  # OpenAI's own API reference documents these
)


def model(entry: Entry) -> dict[str, Any]:
    assert entry.workflow is not None
    return {
        "id": model_name(entry.workflow),
        "object": "model",
        "created": 0,
        "owned_by": entry.namespace,
    }


@router.get("/models")
async def list_models(gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    """The conversation Workflows the caller may start runs of."""
    entries = [
        e
        for e in gateway.catalog.entries()
        if e.workflow is not None and e.ready and chat_field(e.workflow) is not None
    ]
    allowed = await asyncio.gather(
        *(gateway.access.may(caller, "create", e.namespace, e.name) for e in entries)
    )
    return {
        "object": "list",
        "data": [model(e) for e, ok in zip(entries, allowed, strict=True) if ok],
    }


@router.get("/models/{name:path}")
async def get_model(name: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    workflow, _ = await chat_model(gateway, caller, name)
    entry = gateway.catalog.get(workflow.namespace, workflow.name)
    assert entry is not None
    return model(entry)


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[ChatRequest, Body()]
) -> Any:
    run, field = await start(gateway, caller, body)
    if body.stream:
        return stream(gateway, run, field, body)
    return await completion(gateway, run, field, body.model)
