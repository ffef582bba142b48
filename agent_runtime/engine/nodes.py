"""LangGraph node functions for each node type, with retries, timeouts and step records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent_runtime.engine.calls import as_text, call_tool, settle
from agent_runtime.engine.channels import USAGE, VISITS, public
from agent_runtime.engine.context import RunContext
from agent_runtime.engine.conversation import conversation, replies_to_messages, reply, reply_id
from agent_runtime.engine.errors import NodeFailed, OutcomeUnknown, RunWaiting
from agent_runtime.engine.gate import Gate, once
from agent_runtime.engine.limits import RunSpend
from agent_runtime.engine.observe import node_attempt
from agent_runtime.engine.outputs import map_output, output_schema
from agent_runtime.executors import (
    AgentLost,
    Continuation,
    Decision,
    NoAgents,
    NodeTask,
    PermanentTaskError,
    TaskError,
    TaskNotStarted,
    TaskResult,
)
from agent_runtime.providers.base import ToolCall
from agent_runtime.spec.run_input import check_fields
from agent_runtime.spec.templates import TemplateError, render, render_value
from agent_runtime.spec.workflow import HumanNode, LlmNode, RouterNode, ToolNode, WorkflowSpec
from agent_runtime.stores import LeaseLost, StepRecord, StepStatus
from agent_runtime.stores.records import utcnow
from agent_runtime.telemetry.secrets import redact

log = logging.getLogger(__name__)

#: Times a node attempt is sent again, without counting against its ``retry``, because the agent
#: holding it went away (a pod killed, a node lost): an infrastructure fault, not the task's.
MAX_LOST = 3

NodeFn = Callable[[dict[str, Any], Runtime[RunContext]], Awaitable[dict[str, Any]]]


def _visit(state: dict[str, Any], name: str) -> int:
    return int(state.get(VISITS, {}).get(name, 0))


def _build_task(
    spec: WorkflowSpec, node: LlmNode | ToolNode, ctx: RunContext, visit: int, view: dict[str, Any]
) -> NodeTask:
    common = NodeTask(
        run_id=ctx.run_id,
        workflow=ctx.workflow,
        node=node.name,
        type=node.type,
        capability=node.capability,
        visit=visit,
        timeout=node.timeout,
        approval_required=spec.gated_tools(node),
        recorded_tools=spec.recorded_tools(node),
    )
    if isinstance(node, LlmNode):
        return common.model_copy(
            update=dict(
                model=spec.models[node.model],
                system=render(node.system, view),
                messages=conversation(node, view),
                prompt=render(node.prompt, view),
                returns_messages=replies_to_messages(spec, node),
                tools=[spec.tool(t) for t in node.tools],
                max_tool_rounds=node.max_tool_rounds,
                output_schema=output_schema(node.output),
            )
        )
    return common.model_copy(
        update=dict(tool=spec.tool(node.tool), args=render_value(node.args, view))
    )


async def _charge(
    ctx: RunContext, spec: WorkflowSpec, node: LlmNode | ToolNode, result: TaskResult
) -> None:
    """Add a model's tokens to the namespace's spend (once: inside the durable call)."""
    if ctx.budgets is None or not isinstance(node, LlmNode) or not result.usage.total:
        return
    model = spec.models[node.model]
    await ctx.budgets.charge(
        ctx.namespace,
        model.provider,
        model.model,
        result.usage.input_tokens,
        result.usage.output_tokens,
    )


_YES = Decision(approved=True)


def _given_output(spec: WorkflowSpec, node: ToolNode, value: Any) -> dict[str, Any]:
    """A tool node's answer as a person gave it (its call's outcome was unknown)."""
    return {
        "result": TaskResult(output=value).model_dump(mode="json", by_alias=True),
        "update": map_output(spec, node.output, value),
        "attempt": 0,
    }


async def _now(call: Callable[[], Awaitable[Any]]) -> Any:
    return await call()


def executed_node(spec: WorkflowSpec, node: LlmNode | ToolNode) -> NodeFn:
    """An llm or tool node: render, dispatch to an agent, map the answer, retry on failure.

    Before a dispatch, and when the agent stops at a gated tool call or a limit, the node
    interrupts the run for an approval. Everything the node learns before an interrupt that it
    cannot compute again the same way (an agent's answer, the namespace's spend) goes through
    ``once``, so a replay after the answer takes the same path to the same interrupt.
    """
    policy = node.retry
    tool_node = isinstance(node, ToolNode)
    limits = spec.limits
    pauses = limits.on_exceeded == "pause" and (
        limits.max_tokens is not None or limits.max_tool_calls is not None
    )

    async def attempts(ctx: RunContext, task: NodeTask, first: int) -> dict[str, Any]:
        """Dispatch with retries; step records and events for every attempt."""
        attempt, lost = first - 1, 0
        while True:
            attempt += 1
            unknown = False
            step = StepRecord(run_id=task.run_id, node=node.name, visit=task.visit, attempt=attempt)
            began = {"node": node.name, "visit": task.visit, "attempt": attempt}
            if attempt == first and task.resume is not None:
                began["continues"] = True  # after a pause, not a retry
            await ctx.node_started(step, began)
            # a plain-text answer is streamed as written (node.delta events)
            streams = not tool_node and task.output_schema is None
            deltas = ctx.deltas(step, partial(reply_id, task)) if streams else None
            try:
                with node_attempt(
                    spec, node, run_id=task.run_id, visit=task.visit, attempt=attempt
                ) as watched:
                    sent: dict[str, Any] = {"attempt": attempt}
                    if tool_node and task.recorded_tools:  # a call made once
                        sent["start_by"] = ctx.start_by(node.timeout)
                    async with asyncio.timeout(node.timeout):
                        result = await ctx.dispatcher.dispatch(
                            task.model_copy(update=sent),
                            on_delta=None if deltas is None else deltas.add,
                        )
                        if deltas is not None:
                            await deltas.close()
                    value = reply(task, result) if task.returns_messages else result.output
                    update = {} if result.paused else map_output(spec, node.output, value)
                    watched.succeeded(result)
            except NoAgents as exc:
                await ctx.record_step(
                    step.model_copy(update={"status": StepStatus.PENDING, "error": str(exc)})
                )
                raise RunWaiting(
                    f"waiting for an agent serving '{node.capability}'",
                    node=node.name,
                    retry_after=exc.retry_after,
                    capability=node.capability,
                ) from None
            except TaskNotStarted as exc:
                # came to the agent after its start deadline: not made; sent again later
                await ctx.record_step(
                    step.model_copy(update={"status": StepStatus.PENDING, "error": str(exc)})
                )
                raise RunWaiting(str(exc), node=node.name) from None
            except LeaseLost:
                if deltas is not None:
                    deltas.abandon()
                raise  # a delta's write refused: this process writes nothing more of the run
            except (TimeoutError, AgentLost) as exc:
                error = redact(str(exc)) or f"timed out after {node.timeout:g}s (timeout)"
                # a call of a tool that is not idempotent may yet take effect: ask, not retry
                unknown = permanent = tool_node and bool(task.recorded_tools)
                if isinstance(exc, AgentLost) and not unknown and lost < MAX_LOST:
                    lost += 1  # the agent died, not the task: another agent takes it, no charge
            except PermanentTaskError as exc:
                error, permanent = str(exc), True
            except Exception as exc:
                if ctx.store.is_transient(exc):
                    # the store's passing trouble (a delta's write), not the node's: the run is
                    # queued again and goes on from its last checkpoint
                    if deltas is not None:
                        deltas.abandon()
                    raise
                error, permanent = redact(str(exc)) or exc.__class__.__name__, False
                if not isinstance(exc, TaskError):  # not the agent's failure: after a call made
                    # once was sent (an answer that does not map), its outcome is unknown
                    unknown = permanent = tool_node and bool(task.recorded_tools)
            else:
                await _charge(ctx, spec, node, result)
                usage = result.usage
                finished = step.model_copy(
                    update={
                        "status": StepStatus.SUCCEEDED,
                        "finished_at": utcnow(),
                        "input_tokens": usage.input_tokens,
                        "output_tokens": usage.output_tokens,
                        "child_tasks": result.child_tasks,
                    }
                )
                data = {
                    "node": node.name,
                    "visit": task.visit,
                    "attempt": attempt,
                    "usage": usage.model_dump(by_alias=True),
                }
                if result.child_tasks:  # a2a tools: the remote tasks the step delegated to
                    data["childTasks"] = [
                        c.model_dump(mode="json", by_alias=True) for c in result.child_tasks
                    ]
                if result.paused is not None:
                    paused = finished.model_copy(update={"status": StepStatus.PAUSED})
                    await ctx.step(paused, "node.paused", {**data, "reason": result.paused.reason})
                else:
                    await ctx.node_finished(finished, {**data, "update": update})
                return {
                    "result": result.model_dump(mode="json", by_alias=True),
                    "update": update,
                    "attempt": attempt,
                }
            if deltas is not None:
                deltas.abandon()
            last = permanent or attempt - first + 1 - lost >= policy.max_attempts
            status = StepStatus.FAILED if last else StepStatus.RETRYING
            log.warning(
                "run %s: node %s attempt %d %s: %s",
                task.run_id,
                node.name,
                attempt,
                "failed" if last else "failed, retrying",
                error,
            )
            await ctx.step(
                step.model_copy(update={"status": status, "finished_at": utcnow(), "error": error}),
                "node.failed" if last else "node.retrying",
                {"node": node.name, "visit": task.visit, "attempt": attempt, "error": error},
            )
            if unknown:
                raise OutcomeUnknown(error)
            if last:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise NodeFailed(f"node '{node.name}' failed{tries}: {error}", node=node.name)
            await asyncio.sleep(policy.delay(attempt))

    async def run(state: dict[str, Any], runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        await ctx.check_cancelled()
        visit = _visit(state, node.name)
        try:
            task = _build_task(spec, node, ctx, visit, public(state))
        except TemplateError as exc:
            raise NodeFailed(f"node '{node.name}': {exc}", node=node.name) from None
        spend = RunSpend.of(state, spec.limits)
        gate = Gate(ctx, node.name, visit, spend, pauses_at_limits=pauses)
        await gate.before_dispatch(tool_node=tool_node)
        if isinstance(node, ToolNode) and task.approval_required:
            call = ToolCall(id=f"{node.name}-{visit}", name=node.tool, args=task.args)
            if not gate.ask(
                "approval", f"run tool '{node.tool}' as node '{node.name}'?", calls=[call]
            ).approved:
                raise NodeFailed(
                    f"node '{node.name}': a person denied the call of '{node.tool}'",
                    node=node.name,
                    code="denied",
                )
            task = task.model_copy(update={"approved": True})
        # An agent's answer that may lead to an interrupt is kept for the replay after it.
        durable: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]] = (
            once if (task.approval_required or task.recorded_tools or pauses) else _now
        )
        first = task.model_copy(update={"budget": spend.remaining()})
        if isinstance(node, ToolNode) and task.recorded_tools:
            call = ToolCall(id=f"{node.name}-{visit}", name=node.tool, args=task.args)
            done = await settle(
                gate,
                f"{node.name}/{visit}",
                call,
                partial(attempts, ctx, first, 1),
                given=lambda value: _given_output(spec, node, value),
            )
        else:
            done = await durable(partial(attempts, ctx, first, 1))
        while True:
            result = TaskResult.model_validate(done["result"])
            spend.spent(result.usage.total, result.tool_calls)
            if result.paused is None:
                spent = {USAGE: spend.added} if spend.added else {}
                return {**done["update"], VISITS: {node.name: 1}, **spent}
            pause = result.paused
            if pause.reason == "approval":
                gated = [c for c in pause.calls if c.name in task.approval_required]
                names = ", ".join(sorted({c.name for c in gated}))
                answer = gate.ask("approval", f"run {names} for node '{node.name}'?", gated)
                decisions = dict(answer.decisions)
            elif pause.reason == "tools":
                decisions = {}
            else:
                decisions = dict(gate.at_limit(pause.reason).decisions)
            for call in pause.calls:  # the engine's own calls of this round, once each
                if call.name in task.recorded_tools and decisions.get(call.id, _YES).approved:
                    content = await settle(
                        gate,
                        f"{node.name}/{visit}/{pause.rounds}/{call.id}",
                        call,
                        partial(call_tool, ctx, spec, node, task, call, pause.rounds),
                        given=as_text,
                    )
                    decisions[call.id] = Decision(approved=True, result=content)
            resume = Continuation(messages=pause.messages, rounds=pause.rounds, decisions=decisions)
            following = task.model_copy(update={"resume": resume, "budget": spend.remaining()})
            done = await durable(partial(attempts, ctx, following, done["attempt"] + 1))

    return run


def router_node(node: RouterNode) -> NodeFn:
    """Does nothing itself: its outgoing edge's branches choose the way on."""

    async def run(state: dict[str, Any], runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        now = utcnow()
        visit = _visit(state, node.name)
        await ctx.node_finished(
            StepRecord(
                run_id=ctx.run_id,
                node=node.name,
                visit=visit,
                status=StepStatus.SUCCEEDED,
                started_at=now,
                finished_at=now,
            ),
            {"node": node.name, "visit": visit, "attempt": 1, "update": {}},
        )
        return {VISITS: {node.name: 1}}

    return run


def human_node(node: HumanNode) -> NodeFn:
    """Interrupts the run until it is resumed with input for the declared fields."""

    async def run(state: dict[str, Any], runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = runtime.context
        visit = _visit(state, node.name)
        step = StepRecord(run_id=ctx.run_id, node=node.name, visit=visit, status=StepStatus.PENDING)
        try:
            prompt = render(node.prompt, public(state))
        except TemplateError as exc:
            raise NodeFailed(f"node '{node.name}': {exc}", node=node.name) from None
        request = {
            "kind": "input",
            "node": node.name,
            "visit": visit,
            "prompt": prompt,
            "fields": {k: f.json_schema() for k, f in node.output.items()},
        }
        existing = [
            s
            for s in await ctx.store.list_steps(ctx.run_id)
            if s.node == node.name and s.visit == visit
        ]
        if not existing:
            await ctx.store.record_step(step)
        else:
            step = existing[0]
        answer = interrupt(request)  # raises the first time; returns the resume input after
        update = check_fields(node.output, answer if isinstance(answer, dict) else {})
        await ctx.step(
            step.model_copy(update={"status": StepStatus.SUCCEEDED, "finished_at": utcnow()}),
            "node.finished",
            {"node": node.name, "visit": visit, "attempt": 1, "update": update},
        )
        return {**update, VISITS: {node.name: 1}}

    return run
