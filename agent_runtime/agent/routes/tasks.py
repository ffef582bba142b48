"""``POST /v1/tasks``: execute one node task and answer its result."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Response

from agent_runtime.agent.deps import RunnerDep
from agent_runtime.executors import NodeTask, TaskResult

router = APIRouter(tags=["tasks"])

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header, for logs; None when absent or malformed."""
    match = _TRACEPARENT.match(traceparent.strip().lower()) if traceparent else None
    return match.group(1) if match else None


@router.post("/v1/tasks", response_model=None, responses={200: {"model": TaskResult}})
async def execute_task(
    task: NodeTask,
    runner: RunnerDep,
    traceparent: Annotated[str | None, Header()] = None,
) -> Response:
    """One node execution; the answer is the ``TaskResult`` (``output``, ``usage``, ...)."""
    result = await runner.run(task, trace_id=trace_id(traceparent))
    return Response(result.model_dump_json(by_alias=True), media_type="application/json")
