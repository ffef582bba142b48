"""Each Workflow a caller may run as one MCP tool, and the tool that resumes a waiting run.

A tool is named ``namespace.name``: MCP tool names allow ``[A-Za-z0-9_.-]`` and a namespace (a
DNS label) holds no dot, so the first dot splits the name back. ``resume_run`` has no dot, so
no Workflow's tool can take its name.
"""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types as types

from agent_runtime.auth import Identity
from agent_runtime.gateway.components import Gateway
from agent_runtime.spec import Workflow

RESUME = "resume_run"


def tool_name(namespace: str, name: str) -> str:
    return f"{namespace}.{name}"


def workflow_of(tool: str) -> tuple[str, str] | None:
    """The ``(namespace, name)`` a tool name stands for; None for a name no Workflow has."""
    namespace, dot, name = tool.partition(".")
    return (namespace, name) if dot and namespace and name else None


def input_schema(workflow: Workflow) -> dict[str, Any]:
    """The Workflow's input fields: every one required, nothing else (as ``check_input``)."""
    spec = workflow.spec
    return {
        "type": "object",
        "properties": {k: spec.state[k].json_schema() for k in spec.input},
        "required": list(spec.input),
        "additionalProperties": False,
    }


def output_schema(workflow: Workflow) -> dict[str, Any]:
    """The Workflow's output fields. None is required (a run may leave one unset), and other
    keys are allowed: a run that waits for a person answers with what it asks instead."""
    spec = workflow.spec
    return {"type": "object", "properties": {k: spec.state[k].json_schema() for k in spec.output}}


def workflow_tool(workflow: Workflow) -> types.Tool:
    spec = workflow.spec
    return types.Tool(
        name=tool_name(workflow.namespace, workflow.name),
        title=f"{workflow.namespace}/{workflow.name}",
        description=spec.description or f"Run the Workflow {workflow.namespace}/{workflow.name}",
        input_schema=input_schema(workflow),
        output_schema=output_schema(workflow),
    )


RESUME_TOOL = types.Tool(
    name=RESUME,
    title="Resume a run",
    description=(
        "Answer a run that waits for a person (a tool call that returned status "
        "'interrupted'): a value for each field a human node asks for, or {approved, reason} "
        "for an approval; then wait for it again, as the Workflow's own tool does."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "run_id": {"type": "string", "description": "The runId the tool call returned"},
            "input": {
                "type": "object",
                "description": "The interrupt's fields, or approved and reason",
            },
        },
        "required": ["run_id", "input"],
        "additionalProperties": False,
    },
)


async def listed(gateway: Gateway, caller: Identity) -> list[types.Tool]:
    """The ready Workflows the caller may start runs of, then ``resume_run`` (when there are
    any: a caller who may start nothing has nothing to resume)."""
    entries = [e for e in gateway.catalog.entries() if e.workflow is not None and e.ready]
    allowed = await asyncio.gather(
        *(gateway.access.may(caller, "create", e.namespace, e.name) for e in entries)
    )
    tools = [
        workflow_tool(e.workflow)
        for e, ok in zip(entries, allowed, strict=True)
        if ok and e.workflow is not None
    ]
    return [*tools, RESUME_TOOL] if tools else []
