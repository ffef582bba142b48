"""Executing node tasks: an LLM call with a bounded tool-calling loop, or one tool call."""

from __future__ import annotations

import json
import logging
from typing import Any

from agent_runtime.executors.observe import CallObserver
from agent_runtime.executors.tasks import NodeTask, PermanentTaskError, TaskError, TaskResult
from agent_runtime.policy import ToolPolicy
from agent_runtime.providers import (
    ChatModel,
    ChatRequest,
    Completion,
    Message,
    ProviderError,
    ToolDef,
    Usage,
)
from agent_runtime.providers.registry import create_model
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.telemetry.metrics import ExecutorMetrics
from agent_runtime.telemetry.secrets import redact
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.egress import Resolver

log = logging.getLogger(__name__)


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

    async def execute(self, task: NodeTask) -> TaskResult:
        try:
            if task.type == "tool":
                return await self._run_tool(task)
            return await self._run_llm(task)
        except ProviderError as exc:
            cls = TaskError if exc.retryable else PermanentTaskError
            raise cls(redact(f"model call failed: {exc}")) from None
        except ToolError as exc:
            cls = TaskError if exc.retryable else PermanentTaskError
            raise cls(redact(str(exc))) from None

    async def _run_tool(self, task: NodeTask) -> TaskResult:
        if task.tool is None:
            raise PermanentTaskError("a tool task names no tool")
        tool = await self.tools.get(task.tool)
        with self.observe.tool_call(task.tool.name, task.args) as call:
            output = await tool.call(task.args)
            call.result(output)
        return TaskResult(output=output, tool_calls=1)

    async def _run_llm(self, task: NodeTask) -> TaskResult:
        if task.model is None:
            raise PermanentTaskError("an llm task names no model")
        model = self._model(task.model)
        tools = {spec.name: await self.tools.get(spec) for spec in task.tools}
        messages = []
        if task.system:
            messages.append(Message(role="system", content=task.system))
        messages.append(Message(role="user", content=task.prompt))
        tool_defs = [
            ToolDef(name=name, description=t.description, parameters=t.parameters)
            for name, t in tools.items()
        ]
        usage = Usage()
        calls = 0
        for _round in range(task.max_tool_rounds + 1):
            request = ChatRequest(
                messages=messages,
                tools=tool_defs,
                output_schema=task.output_schema,
                visit=task.visit,
                node=task.node,
            )
            completion = await self._complete(model, task.model, request)
            usage = usage + completion.usage
            if not completion.tool_calls:
                output: Any = completion.structured if task.output_schema else completion.text
                if task.output_schema and output is None:
                    raise TaskError("the model gave no structured answer")
                return TaskResult(output=output, usage=usage, tool_calls=calls)
            messages.append(
                Message(role="assistant", content=completion.text, tool_calls=completion.tool_calls)
            )
            for call in completion.tool_calls:
                calls += 1
                messages.append(await self._call_tool(tools, call.name, call.args, call.id))
        raise TaskError(
            f"the model still asked for tools after {task.max_tool_rounds} rounds (maxToolRounds)"
        )

    async def _complete(
        self, model: ChatModel, spec: ModelSpec, request: ChatRequest
    ) -> Completion:
        with self.observe.llm_call(spec, request) as call:
            completion = await model.complete(request)
            call.completed(completion)
        return completion

    async def _call_tool(
        self, tools: dict[str, Any], name: str, args: dict[str, Any], call_id: str
    ) -> Message:
        """Run one requested call; failures go back to the model as the tool's answer."""
        tool = tools.get(name)
        with self.observe.tool_call(name, args, call_id=call_id) as call:
            if tool is None:
                error = f"unknown tool {name!r}; available: {sorted(tools)}"
                call.failed(error)
                content = json.dumps({"error": error})
            else:
                try:
                    result = await tool.call(args)
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
