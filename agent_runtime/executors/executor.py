"""Executing node tasks: an LLM call with a bounded tool-calling loop, or one tool call."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from agent_runtime.executors.observe import CallObserver
from agent_runtime.executors.tasks import (
    Decision,
    NodeTask,
    OnDelta,
    PauseReason,
    PermanentTaskError,
    TaskDelta,
    TaskError,
    TaskNotStarted,
    TaskPause,
    TaskResult,
)
from agent_runtime.policy import ToolPolicy
from agent_runtime.providers import (
    ChatModel,
    ChatRequest,
    Completion,
    Message,
    ProviderError,
    ToolCall,
    ToolDef,
    Usage,
)
from agent_runtime.providers.base import Delta
from agent_runtime.providers.factory import create_model
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.stores.records import ChildTask
from agent_runtime.telemetry.metrics import ExecutorMetrics
from agent_runtime.telemetry.secrets import redact, redact_value, seal, unseal
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.base import Delegated
from agent_runtime.tools.egress import Resolver

log = logging.getLogger(__name__)


def _pause_reason(
    task: NodeTask, calls: list[ToolCall], usage: Usage, done: int
) -> PauseReason | None:
    """Why the model's next round of tool calls must wait, if it must."""
    if any(call.name in task.approval_required for call in calls):
        return "approval"
    if any(call.name in task.recorded_tools for call in calls):
        return "tools"
    budget = task.budget
    if budget.tokens is not None and usage.total >= budget.tokens:
        return "maxTokens"
    if budget.tool_calls is not None and done + len(calls) > budget.tool_calls:
        return "maxToolCalls"
    return None


def _opening(task: NodeTask) -> list[Message]:
    """What the model is sent first: the system prompt, the node's conversation, its prompt."""
    messages = [Message(role="system", content=task.system)] if task.system else []
    messages += task.messages
    if task.prompt or not task.messages:
        messages.append(Message(role="user", content=task.prompt))
    return messages


def _refusal(call: ToolCall, decision: Decision) -> Message:
    why = f": {decision.reason}" if decision.reason else ""
    content = json.dumps({"error": f"a person denied this call of '{call.name}'{why}"})
    return Message(role="tool", content=content, tool_call_id=call.id, name=call.name)


def _delegated(result: Any, call_id: str | None, children: list[ChildTask]) -> Any:
    """The result the model gets; the remote task behind it, if any, is kept for the step."""
    if isinstance(result, Delegated):
        children.append(result.task.model_copy(update={"call_id": call_id}))
        return result.value
    return result


def _scrubbed(result: TaskResult, run_id: str) -> TaskResult:
    """A result with no known secret in what the run keeps (state, checkpoints, events): a tool
    that echoes its token, a model that repeats its key. The arguments of paused tool calls are
    sealed instead: an agent of the pool unseals them when the calls run."""
    result.output = redact_value(result.output)
    for message in result.messages:
        message.content = redact(message.content)
        for call in message.tool_calls:
            call.args = redact_value(call.args)
    if result.paused is not None:
        for message in result.paused.messages:
            message.content = redact(message.content)
            for call in message.tool_calls:
                call.args = seal(call.args, run_id)
    return result


async def _streamed(
    model: ChatModel, request: ChatRequest, on_delta: OnDelta, message: int
) -> Completion:
    completion = None
    async for chunk in model.stream(request):
        if isinstance(chunk, Delta):
            if chunk.text:
                await on_delta(TaskDelta(text=redact(chunk.text), message=message))
        else:
            completion = chunk
    if completion is None:
        raise ProviderError(f"{model.spec.provider}: the stream ended without an answer")
    return completion


class TaskExecutor:
    """Runs node tasks; keeps model clients and tools for reuse across tasks.

    Tools are built under the platform tool ``policy``: the entry point's (agents pass
    ``AgentSettings.tool_policy()``), else the environment's (``tools.policy.policy_or_default``).
    """

    def __init__(
        self,
        metrics: ExecutorMetrics | None = None,
        *,
        policy: ToolPolicy | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._models: dict[str, ChatModel] = {}
        self.tools = ToolBox(policy=policy, resolver=resolver)
        #: Spans and metrics of each LLM and tool call (the default registry's metrics if None).
        self.observe = CallObserver(metrics or ExecutorMetrics.for_registry())

    def _model(self, spec: ModelSpec) -> ChatModel:
        key = spec.model_dump_json()
        model = self._models.get(key)
        if model is None:
            try:
                model = self._models[key] = create_model(spec)
            except ProviderError as exc:
                raise PermanentTaskError(str(exc)) from None
        return model

    async def execute(self, task: NodeTask, *, on_delta: OnDelta | None = None) -> TaskResult:
        """The task's result; with ``on_delta``, the model's text is streamed to it as written."""
        try:
            if task.type == "tool":
                result = await self._run_tool(task)
            else:
                result = await self._run_llm(task, on_delta)
        except ProviderError as exc:
            cls = TaskError if exc.retryable else PermanentTaskError
            raise cls(redact(f"model call failed: {exc}")) from None
        except ToolError as exc:
            cls = TaskError if exc.retryable else PermanentTaskError
            raise cls(redact(str(exc))) from None
        return _scrubbed(result, task.run_id)

    async def _run_tool(self, task: NodeTask) -> TaskResult:
        if task.tool is None:
            raise PermanentTaskError("a tool task names no tool")
        if task.tool.name in task.approval_required and not task.approved:
            raise PermanentTaskError(
                f"tool '{task.tool.name}' needs an approval and this call has none"
            )
        tool = await self.tools.get(task.tool)
        if task.start_by is not None and datetime.now(UTC) > task.start_by:
            # not made: calling it again is safe, and the engine may be doing just that
            raise TaskNotStarted(
                f"tool '{task.tool.name}' not called: its start deadline "
                f"({task.start_by:%H:%M:%S.%f} UTC) passed before this agent got to it"
            )
        with self.observe.tool_call(task.tool.name, task.args) as call:
            children: list[ChildTask] = []
            output = _delegated(
                await tool.call(unseal(task.args, task.run_id)), task.call_id, children
            )
            call.result(output)
        return TaskResult(output=output, tool_calls=1, child_tasks=children)

    async def _run_llm(self, task: NodeTask, on_delta: OnDelta | None = None) -> TaskResult:
        """The model's tool-calling loop. It stops before a round of tool calls that a gated
        tool or the run's budget holds back, and goes on from there with ``task.resume``."""
        if task.model is None:
            raise PermanentTaskError("an llm task names no model")
        model = self._model(task.model)
        tools = {spec.name: await self.tools.get(spec) for spec in task.tools}
        tool_defs = [
            ToolDef(name=name, description=t.description, parameters=t.parameters)
            for name, t in tools.items()
        ]
        usage, calls = Usage(), 0
        children: list[ChildTask] = []  # remote tasks of its calls (a2a tools)
        opening = _opening(task)
        if task.resume is None:
            messages = list(opening)
            rounds, pending, decisions = 0, [], {}
        else:
            messages, rounds = list(task.resume.messages), task.resume.rounds
            pending = [
                call.model_copy(update={"args": unseal(call.args, task.run_id)})
                for call in messages[-1].tool_calls
            ]
            decisions = task.resume.decisions
        while True:
            if not pending:
                if rounds > task.max_tool_rounds:
                    raise TaskError(
                        f"the model still asked for tools after {task.max_tool_rounds} rounds "
                        "(maxToolRounds)"
                    )
                request = ChatRequest(
                    messages=messages,
                    tools=tool_defs,
                    output_schema=task.output_schema,
                    visit=task.visit,
                    node=task.node,
                )
                # the round's answer is the next message the task adds
                message = len(messages) - len(opening)
                completion = await self._complete(model, task.model, request, on_delta, message)
                rounds += 1
                usage = usage + completion.usage
                if not completion.tool_calls:
                    output: Any = completion.structured if task.output_schema else completion.text
                    if task.output_schema and output is None:
                        raise TaskError("the model gave no structured answer")
                    added = []
                    if task.returns_messages:
                        answer = Message(role="assistant", content=completion.text)
                        added = [*messages[len(opening) :], answer]
                    return TaskResult(
                        output=output,
                        usage=usage,
                        tool_calls=calls,
                        messages=added,
                        child_tasks=children,
                    )
                messages.append(
                    Message(
                        role="assistant", content=completion.text, tool_calls=completion.tool_calls
                    )
                )
                pending, decisions = completion.tool_calls, {}
                reason = _pause_reason(task, pending, usage, calls)
                if reason is not None:
                    pause = TaskPause(reason=reason, messages=messages, rounds=rounds)
                    return TaskResult(
                        usage=usage, tool_calls=calls, paused=pause, child_tasks=children
                    )
            for call in pending:
                decision = decisions.get(call.id)
                if call.name in task.approval_required and decision is None:
                    # only a resumed task gets here: the engine sent no answer for this call
                    raise PermanentTaskError(
                        f"tool call {call.id!r} of '{call.name}' needs an approval and has none"
                    )
                if decision is not None and not decision.approved:
                    messages.append(_refusal(call, decision))
                    continue
                if decision is not None and decision.result is not None:
                    calls += 1  # the engine ran it
                    messages.append(
                        Message(
                            role="tool",
                            content=decision.result,
                            tool_call_id=call.id,
                            name=call.name,
                        )
                    )
                    continue
                if call.name in task.recorded_tools:
                    raise PermanentTaskError(
                        f"tool call {call.id!r} of '{call.name}' is the engine's to run"
                    )
                calls += 1
                messages.append(
                    await self._call_tool(tools, call.name, call.args, call.id, children)
                )
            pending = []

    async def _complete(
        self,
        model: ChatModel,
        spec: ModelSpec,
        request: ChatRequest,
        on_delta: OnDelta | None,
        message: int,
    ) -> Completion:
        """One model call: ``complete``, or ``stream`` with each text piece told to
        ``on_delta`` (redacted piece by piece: a secret split across pieces is not caught)."""
        with self.observe.llm_call(spec, request) as call:
            if on_delta is None:
                completion = await model.complete(request)
            else:
                completion = await _streamed(model, request, on_delta, message)
            call.completed(completion)
        return completion

    async def _call_tool(
        self,
        tools: dict[str, Any],
        name: str,
        args: dict[str, Any],
        call_id: str,
        children: list[ChildTask],
    ) -> Message:
        """Run one requested call; failures go back to the model as the tool's answer. A remote
        task the call started is added to ``children``."""
        tool = tools.get(name)
        with self.observe.tool_call(name, args, call_id=call_id) as call:
            if tool is None:
                error = f"unknown tool {name!r}; available: {sorted(tools)}"
                call.failed(error)
                content = json.dumps({"error": error})
            else:
                try:
                    result = _delegated(await tool.call(args), call_id, children)
                    content = result if isinstance(result, str) else json.dumps(result, default=str)
                    call.result(content)
                except ToolError as exc:
                    call.failed(str(exc))
                    content = json.dumps({"error": str(exc)})
        return Message(role="tool", content=content, tool_call_id=call_id, name=name)

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()
        self._models.clear()
        await self.tools.aclose()
