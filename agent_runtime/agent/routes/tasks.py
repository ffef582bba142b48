"""``POST /v1/tasks``: execute one node task and answer its result."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from opentelemetry.propagate import extract
from opentelemetry.trace import SpanKind

from agent_runtime.agent.deps import RunnerDep
from agent_runtime.executors import NodeTask, TaskResult
from agent_runtime.telemetry import bind, genai, tracer

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
    request: Request,
    traceparent: Annotated[str | None, Header()] = None,
) -> Response:
    """One node execution; the answer is the ``TaskResult`` (``output``, ``usage``, ...).

    Its span is a child of the engine's node-attempt span (W3C ``traceparent``), so one trace
    holds a run across the gateway and its agents.
    """
    with (
        tracer().start_as_current_span(
            f"task {task.node}",
            context=extract(request.headers),
            kind=SpanKind.SERVER,
            attributes={
                genai.RUN_ID: task.run_id,
                genai.WORKFLOW: task.workflow,
                genai.NODE: task.node,
                genai.NODE_TYPE: task.type,
                genai.VISIT: task.visit,
                genai.ATTEMPT: task.attempt,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span,
        bind(run_id=task.run_id, workflow=task.workflow, node=task.node),
    ):
        try:
            result = await runner.run(task, trace_id=trace_id(traceparent))
        except Exception as exc:
            genai.record_error(span, exc)
            raise
        span.set_attribute(genai.INPUT_TOKENS, result.usage.input_tokens)
        span.set_attribute(genai.OUTPUT_TOKENS, result.usage.output_tokens)
    return Response(result.model_dump_json(by_alias=True), media_type="application/json")
