"""Assistants: every Workflow the caller may see is one assistant (read-only: Workflows are
changed with ``kubectl apply``, not through this API).

Its ``graph_id`` is ``namespace/name``; its ``assistant_id`` a UUID derived from that, so it is
the same on every gateway replica. Either one, or a bare name (the ``default`` namespace first),
finds it again.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body

from agent_runtime.auth import Identity
from agent_runtime.gateway.catalog import Entry
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.langgraph.wire import AssistantSearch, CountBody, graph_id
from agent_runtime.gateway.launch import no_workflow, visible_entry
from agent_runtime.spec import Workflow
from agent_runtime.spec.workflow import END, START

router = APIRouter(tags=["langgraph"])

#: When a Workflow read from a file was created (it has no ``creationTimestamp``).
EPOCH = "1970-01-01T00:00:00+00:00"
#: Assistant ids are UUIDv5 of the graph id in this namespace of names.
_IDS = uuid.UUID("6f1c3f57-2f0e-4a5b-9a8e-1c0d6b1f2a77")


def assistant_id(namespace: str, name: str) -> str:
    return str(uuid.uuid5(_IDS, f"{namespace}/{name}"))


async def _visible(gateway: Gateway, caller: Identity) -> list[Entry]:
    entries = [e for e in gateway.catalog.entries() if e.workflow is not None]
    access = gateway.access

    async def shown(entry: Entry) -> bool:
        return await access.may(caller, "create", entry.namespace, entry.name) or (
            await access.may(caller, "list", entry.namespace)
        )

    ok = await asyncio.gather(*(shown(e) for e in entries))
    return [entry for entry, yes in zip(entries, ok, strict=True) if yes]


async def resolve(gateway: Gateway, caller: Identity, given: str) -> Entry:
    """The entry an ``assistant_id`` (UUID, ``namespace/name`` or a bare name) stands for."""
    namespace, _, name = given.rpartition("/")
    if namespace:
        return await visible_entry(gateway, caller, namespace, name)
    visible = await _visible(gateway, caller)
    for entry in visible:
        if given == assistant_id(entry.namespace, entry.name):
            return entry
    named = [e for e in visible if e.name == given]
    preferred = [e for e in named if e.namespace == "default"] or named
    if len(preferred) == 1:
        return preferred[0]
    raise no_workflow("default", given)


def assistant_view(entry: Entry) -> dict[str, Any]:
    workflow = entry.workflow
    assert workflow is not None
    meta = workflow.metadata
    created = (meta.model_extra or {}).get("creationTimestamp") or EPOCH
    return {
        "assistant_id": assistant_id(entry.namespace, entry.name),
        "graph_id": graph_id(entry.namespace, entry.name),
        "name": entry.name,
        "description": workflow.spec.description or None,
        "config": {},
        "context": {},
        "metadata": {"namespace": entry.namespace, "ready": entry.ready},
        "version": meta.generation or 1,
        "created_at": created,
        "updated_at": created,
    }


def schemas(workflow: Workflow) -> dict[str, Any]:
    spec = workflow.spec

    def of(names: list[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "title": workflow.name,
            "properties": {k: spec.state[k].json_schema() for k in names},
        }

    return {
        "graph_id": graph_id(workflow.namespace, workflow.name),
        "input_schema": {**of(spec.input), "required": list(spec.input)},
        "output_schema": of(spec.output),
        "state_schema": of(list(spec.state)),
        "config_schema": {"type": "object", "properties": {}},
        "context_schema": None,
    }


def drawn(workflow: Workflow) -> dict[str, Any]:
    """The graph as LangGraph's ``get_graph`` JSON: nodes and (conditional) edges."""
    ids = {START: "__start__", END: "__end__"}
    nodes: list[dict[str, Any]] = [{"id": "__start__", "type": "schema", "data": "__start__"}]
    for node in workflow.spec.nodes:
        nodes.append(
            {"id": node.name, "type": "runnable", "data": {"id": [node.type], "name": node.name}}
        )
    nodes.append({"id": "__end__", "type": "schema", "data": "__end__"})
    edges: list[dict[str, Any]] = []
    for edge in workflow.spec.edges:
        branched = edge.branches is not None
        for source in edge.sources:
            for target in edge.targets:
                edges.append(
                    {
                        "source": ids.get(source, source),
                        "target": ids.get(target, target),
                        "conditional": branched,
                    }
                )
    return {"nodes": nodes, "edges": edges}


@router.post("/assistants/search", operation_id="langgraphSearchAssistants")
async def search_assistants(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[AssistantSearch, Body()]
) -> list[dict[str, Any]]:
    found = [assistant_view(e) for e in await _visible(gateway, caller)]
    if body.graph_id:
        found = [a for a in found if body.graph_id in (a["graph_id"], a["name"])]
    if body.name:
        found = [a for a in found if body.name in a["name"]]
    if body.metadata:
        found = [a for a in found if body.metadata.items() <= a["metadata"].items()]
    return found[body.offset : body.offset + body.limit]


@router.post("/assistants/count", operation_id="langgraphCountAssistants")
async def count_assistants(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[CountBody, Body()]
) -> int:
    found = [assistant_view(e) for e in await _visible(gateway, caller)]
    if body.graph_id:
        found = [a for a in found if body.graph_id in (a["graph_id"], a["name"])]
    if body.metadata:
        found = [a for a in found if body.metadata.items() <= a["metadata"].items()]
    return len(found)


@router.get("/assistants/{assistant:path}/schemas", operation_id="langgraphAssistantSchemas")
async def get_schemas(assistant: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    entry = await resolve(gateway, caller, assistant)
    assert entry.workflow is not None
    return schemas(entry.workflow)


@router.get("/assistants/{assistant:path}/graph", operation_id="langgraphAssistantGraph")
async def get_graph(assistant: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    entry = await resolve(gateway, caller, assistant)
    assert entry.workflow is not None
    return drawn(entry.workflow)


@router.get("/assistants/{assistant:path}/subgraphs", operation_id="langgraphAssistantSubgraphs")
async def get_subgraphs(assistant: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    await resolve(gateway, caller, assistant)
    return {}  # a Workflow has no subgraphs


@router.get("/assistants/{assistant:path}", operation_id="langgraphGetAssistant")
async def get_assistant(assistant: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    return assistant_view(await resolve(gateway, caller, assistant))
