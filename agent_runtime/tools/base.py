"""The interface every tool implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.stores.records import ChildTask


class ToolError(AgentRuntimeError, RuntimeError):
    """A tool call failed in a way the model (or the node's retry) should hear about.

    ``retryable`` marks transient failures (timeouts, connection errors) worth another attempt.
    """

    code = "tool_error"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Delegated:
    """A tool's result that a task on a remote agent produced (``a2a`` tools): the executor
    gives the model ``value`` and keeps ``task`` for the step's record."""

    value: Any
    task: ChildTask


class Tool(ABC):
    name: str
    description: str
    #: JSON Schema (type object) of the arguments.
    parameters: dict[str, Any]

    @abstractmethod
    async def call(self, args: dict[str, Any]) -> Any:
        """Run the tool; return a JSON-serialisable result (or a ``Delegated`` one) or raise
        ToolError."""

    async def aclose(self) -> None:
        """Release connections; the default holds none."""
