"""MCP at ``/mcp`` (Streamable HTTP, the ``mcp`` library): each Workflow the caller may run is a
tool named ``namespace.name`` whose input and output schemas are the Workflow's fields. A call
starts a run and waits for it, with a progress notification per step; cancelling the call
cancels the run; a human node is elicited where the client supports it, else the call returns
what it asks and ``resume_run`` goes on. Authentication, RBAC and admission are the Runs API's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, FastAPI
from mcp.server.lowlevel.server import Server
from starlette.routing import Route

from agent_runtime import __version__
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.mcp_server.calls import call_tool, list_tools
from agent_runtime.gateway.mcp_server.tools import input_schema, workflow_of
from agent_runtime.gateway.mcp_server.transport import Endpoint, lifespan_for


def serve(app: FastAPI) -> Server:
    """The MCP server of one app. The library checks a call's ``Mcp-Param-*`` headers against
    the tool's input schema: looked up here in the catalog, not by listing the caller's tools
    (which asks RBAC about every Workflow on every call)."""

    def input_schema_of(tool: str) -> Mapping[str, Any] | None:
        gateway: Gateway = app.state.gateway
        where = workflow_of(tool)
        entry = gateway.catalog.get(*where) if where else None
        return input_schema(entry.workflow) if entry and entry.workflow else None

    return Server(
        "configurable-agents",
        version=__version__,
        title="configurable-agents gateway",
        get_tool_input_schema=input_schema_of,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


router = APIRouter(lifespan=lifespan_for(serve))
router.routes.append(Route("/mcp", endpoint=Endpoint(), include_in_schema=False))

__all__ = ["router", "serve"]
