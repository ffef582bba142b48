"""``POST /v1/tasks``: execute one node task and answer its result (or stream it as written)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind

from agent_runtime.agent import streaming
from agent_runtime.agent.deps import RunnerDep
from agent_runtime.executors import NodeTask, TaskResult
from agent_runtime.telemetry import bind, genai, tracer

router = APIRouter(tags=["tasks"])

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


def trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` header, for logs; None when absent or malformed."""
    match = _TRACEPARENT.match(traceparent.strip().lower()) if traceparent else None
    return match.group(1) if match else None


def _task_span(task: NodeTask, request: Request) -> Span:
    return tracer().start_span(
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
    )


def _ended(span: Span, result: TaskResult | None, failure: BaseException | None) -> None:
    if failure is not None:
        genai.record_error(span, failure)
    elif result is not None:
        span.set_attribute(genai.INPUT_TOKENS, result.usage.input_tokens)
        span.set_attribute(genai.OUTPUT_TOKENS, result.usage.output_tokens)
    span.end()


@router.post(
    "/v1/tasks",
    response_model=None,
    responses={
        200: {
            "model": TaskResult,
            "content": {streaming.MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
async def execute_task(
    task: NodeTask,
    runner: RunnerDep,
    request: Request,
    traceparent: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """One node execution; the answer is the ``TaskResult`` (``output``, ``usage``, ...), or
    with ``Accept: application/x-ndjson`` the model's text as written, then the result
    (``agent.streaming``).

    Its span is a child of the engine's node-attempt span (W3C ``traceparent``), so one trace
    holds a run across the gateway and its agents.
    """
    span = _task_span(task, request)
    deltas = streaming.DeltaQueue() if streaming.wanted(accept) else None
    with (
        trace.use_span(span, end_on_exit=False),
        bind(run_id=task.run_id, workflow=task.workflow, node=task.node),
    ):
        try:
            outcome = runner.start(
                task,
                trace_id=trace_id(traceparent),
                on_delta=None if deltas is None else deltas.put,
            )
        except Exception as exc:
            _ended(span, None, exc)
            raise
        if deltas is not None:
            outcome.add_done_callback(deltas.end)
            body = streaming.lines(outcome, deltas, lambda r, f: _ended(span, r, f))
            return StreamingResponse(body, media_type=streaming.MEDIA_TYPE)
        try:
            result = await outcome
        except Exception as exc:
            _ended(span, None, exc)
            raise
    _ended(span, result, None)
    return Response(result.model_dump_json(by_alias=True), media_type="application/json")
