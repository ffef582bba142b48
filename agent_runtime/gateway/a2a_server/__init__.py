"""A2A at ``/a2a/{namespace}/{name}`` (the ``a2a-sdk`` library): each Workflow the caller may
start runs of is an agent with its card at ``.well-known/agent-card.json`` under it. A task is
a run (task id = run id), its context a thread, ``input-required`` a human node or an approval
that the next message on the task answers; artifacts carry the run's output fields, and a
stream its steps and model text. Authentication, RBAC and admission are the Runs API's."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Route

from agent_runtime.gateway.a2a_server.endpoint import card, rpc

router = APIRouter()
router.routes += [
    Route(
        "/a2a/{namespace}/{name}/.well-known/agent-card.json",
        endpoint=card,
        methods=["GET"],
        include_in_schema=False,
    ),
    Route("/a2a/{namespace}/{name}", endpoint=rpc, methods=["POST"], include_in_schema=False),
]

__all__ = ["router"]
