"""Building the tools a Workflow declares, once per Workflow version, under the platform policy."""

from __future__ import annotations

import importlib

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import Tool, ToolError
from agent_runtime.tools.egress import Resolver
from agent_runtime.tools.policy import check_function, policy_or_default

#: Each kind's module and class, and the extra that installs what it needs.
_KINDS = {
    "http_get": ("agent_runtime.tools.http_get", "HttpGetTool", ""),
    "function": ("agent_runtime.tools.python", "PythonTool", ""),
    "mcp": ("agent_runtime.tools.mcp", "McpTool", "mcp"),
    "a2a": ("agent_runtime.tools.a2a", "A2aTool", "a2a"),
}


def kind_of(spec: ToolSpec) -> str:
    for kind in _KINDS:
        if getattr(spec, kind) is not None:
            return kind
    raise ToolError(f"tool '{spec.name}' has no kind")


class ToolBox:
    """Tools by name, created on first use and kept for the life of the box.

    Every tool is built under one platform ``policy``; without one, the environment's is read at
    first use (``tools.policy.policy_or_default``). ``resolver`` resolves host names for the
    egress guard (tests give their own).
    """

    def __init__(
        self, *, policy: ToolPolicy | None = None, resolver: Resolver | None = None
    ) -> None:
        self._tools: dict[tuple[str, str], Tool] = {}
        self._policy = policy
        self._resolver = resolver

    @property
    def policy(self) -> ToolPolicy:
        if self._policy is None:
            self._policy = policy_or_default(None)
        return self._policy

    async def get(self, spec: ToolSpec) -> Tool:
        key = (spec.name, spec.model_dump_json())
        tool = self._tools.get(key)
        if tool is None:
            kind = kind_of(spec)
            if kind == "function":  # refused before the module holding it is imported
                check_function(spec, self.policy)
            module_name, class_name, extra = _KINDS[kind]
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ToolError(
                    f"tool '{spec.name}' needs an optional dependency ({exc.name}); "
                    f"pip install 'configurable-agents[{extra}]'"
                ) from None
            tool = await module.__dict__[class_name].create(
                spec, policy=self.policy, resolver=self._resolver
            )
            self._tools[key] = tool
        return tool

    async def aclose(self) -> None:
        for tool in self._tools.values():
            await tool.aclose()
        self._tools.clear()
