"""Tool calls the engine makes itself, once per call of a run: tools that are not idempotent.

Before such a call the engine writes a ``tool.started`` event, after it a ``tool.finished`` event
with the result: both in the run store, awaited, under the call's durable key (node, visit, call).
A node that runs again (retried, resumed, taken over after a crash) finds the result there instead
of calling again; one that finds the start without the result cannot know whether the call took
effect, and asks a person (``Gate.unknown_outcome``) rather than repeat it blindly.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from agent_runtime.engine.context import RunContext
from agent_runtime.engine.errors import NodeFailed, OutcomeUnknown, RunWaiting
from agent_runtime.engine.gate import Gate, once
from agent_runtime.executors import AgentLost, NoAgents, NodeTask, TaskError, TaskNotStarted
from agent_runtime.providers.base import ToolCall
from agent_runtime.spec.workflow import LlmNode, ToolNode, WorkflowSpec
from agent_runtime.telemetry.secrets import redact

STARTED, FINISHED = "tool.started", "tool.finished"
#: The call failed (the agent said so) or was never sent (no agent): calling again is safe, or
#: what a person asked for by retrying the run. Only those: an error of the store's after the
#: agent's answer (a Postgres restart as the step was recorded) leaves the start alone.
FAILED, UNSENT = "tool.failed", "tool.unsent"


async def recorded_call(
    ctx: RunContext,
    key: str,
    tool: str,
    call: Callable[[], Awaitable[Any]],
    *,
    again: bool = False,
) -> dict[str, Any]:
    """``{"done": result}`` of the call under ``key`` (made now, or recorded before), or
    ``{"unknown": true}`` when an earlier try started it and left no result. ``again``: make the
    call whatever is recorded (a person said so).

    Any other error (the store's passing trouble as the agent's answer was being recorded, a lost
    lease) says nothing of the call: it may have taken effect, so it leaves no record and a
    replay asks a person."""
    if not again:
        started = False
        for event in await ctx.store.list_events(ctx.run_id):
            if event.data.get("key") != key:
                continue
            if event.type == FINISHED:
                return {"done": event.data.get("result")}
            started = event.type == STARTED
        if started:
            return {"unknown": True}
    await ctx.emit(STARTED, {"key": key, "tool": tool})
    try:
        result = await call()
    except OutcomeUnknown:
        return {"unknown": True}  # no record after the start: a replay finds it unknown too
    except RunWaiting:
        await ctx.emit(UNSENT, {"key": key, "tool": tool})
        raise
    except (NodeFailed, TaskError) as exc:  # the agent answered that the call failed
        await ctx.emit(FAILED, {"key": key, "tool": tool, "error": str(exc)})
        raise
    await ctx.emit(FINISHED, {"key": key, "tool": tool, "result": result})
    return {"done": result}


async def settle(
    gate: Gate,
    key: str,
    call: ToolCall,
    make: Callable[[], Awaitable[Any]],
    *,
    given: Callable[[Any], Any],
) -> Any:
    """The result of a call the engine makes once (``engine.calls``); when an earlier try left
    its outcome unknown, what a person chose: call again, or go on with the result they gave."""
    ctx = gate.ctx
    outcome = await once(partial(recorded_call, ctx, key, call.name, make))
    while "done" not in outcome:
        answer = gate.unknown_outcome(call)
        if answer.result is not None:
            outcome = {"done": given(answer.result)}
        else:
            outcome = await once(partial(recorded_call, ctx, key, call.name, make, again=True))
    return outcome["done"]


async def call_tool(
    ctx: RunContext,
    spec: WorkflowSpec,
    node: LlmNode | ToolNode,
    task: NodeTask,
    call: ToolCall,
    round_: int,
) -> str:
    """One call an llm node's model asked for, made by the engine on an agent of the node's
    capability; a failure is the tool's answer to the model, as when the agent makes it."""
    tool_task = NodeTask(
        run_id=task.run_id,
        workflow=task.workflow,
        node=node.name,
        type="tool",
        capability=node.capability,
        visit=task.visit,
        tool=spec.tool(call.name),
        args=call.args,
        approved=True,
        approval_required=task.approval_required,
        call_id=f"{round_}/{call.id}",
        timeout=node.timeout,
    )
    tool_task.start_by = ctx.start_by(node.timeout)
    try:
        async with asyncio.timeout(node.timeout):
            result = await ctx.dispatcher.dispatch(tool_task)
    except (AgentLost, TimeoutError) as exc:
        raise OutcomeUnknown(str(exc) or "timed out") from None
    except NoAgents as exc:
        raise RunWaiting(
            f"waiting for an agent serving '{node.capability}'",
            node=node.name,
            retry_after=exc.retry_after,
            capability=node.capability,
        ) from None
    except TaskNotStarted as exc:  # came after its start deadline: not made; sent again later
        raise RunWaiting(str(exc), node=node.name) from None
    except TaskError as exc:
        return json.dumps({"error": redact(str(exc))})
    return as_text(result.output)


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
