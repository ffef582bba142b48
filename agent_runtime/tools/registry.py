"""Building the tools a Workflow declares, once per Workflow version."""

from __future__ import annotations

import importlib

from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import Tool, ToolError

_KINDS = {
    "http_get": ("agent_runtime.tools.http_get", "HttpGetTool"),
    "function": ("agent_runtime.tools.python", "PythonTool"),
    "mcp": ("agent_runtime.tools.mcp", "McpTool"),
}


def kind_of(spec: ToolSpec) -> str:
    for kind in _KINDS:
        if getattr(spec, kind) is not None:
            return kind
    raise ToolError(f"tool '{spec.name}' has no kind")


class ToolBox:
    """Tools by name, created on first use and kept for the life of the box."""

    def __init__(self) -> None:
        self._tools: dict[tuple[str, str], Tool] = {}

    async def get(self, spec: ToolSpec) -> Tool:
        key = (spec.name, spec.model_dump_json())
        tool = self._tools.get(key)
        if tool is None:
            module_name, class_name = _KINDS[kind_of(spec)]
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ToolError(
                    f"tool '{spec.name}' needs an optional dependency ({exc.name}); "
                    "pip install 'configurable-agents[mcp]'"
                ) from None
            tool = await module.__dict__[class_name].create(spec)
            self._tools[key] = tool
        return tool

    async def aclose(self) -> None:
        for tool in self._tools.values():
            await tool.aclose()
        self._tools.clear()
