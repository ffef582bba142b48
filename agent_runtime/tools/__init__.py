"""Tools that nodes call: built-in ``http_get``, Python callables, and MCP servers' tools."""

from agent_runtime.tools.base import Tool, ToolError
from agent_runtime.tools.toolbox import ToolBox

__all__ = ["Tool", "ToolBox", "ToolError"]
