"""The node task and its result: what the engine sends to an agent and gets back."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agent_runtime.providers.base import Usage, WireModel
from agent_runtime.spec.workflow import ModelSpec, ToolSpec


class NodeTask(WireModel):
    """One attempt of one node visit, with its prompts already rendered from the state."""

    run_id: str
    workflow: str
    node: str
    type: Literal["llm", "tool"]
    capability: str = "llm"
    visit: int = 0
    attempt: int = 1
    # llm nodes
    model: ModelSpec | None = None
    system: str = ""
    prompt: str = ""
    tools: list[ToolSpec] = Field(default_factory=list)
    max_tool_rounds: int = 8
    #: JSON Schema (type object) of a structured answer; None for plain text.
    output_schema: dict[str, Any] | None = None
    # tool nodes
    tool: ToolSpec | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    #: Seconds the node allows this attempt (its ``timeout``): an agent stops the task then,
    #: when the engine stops waiting for it, instead of running on for nobody.
    timeout: float | None = Field(default=None, gt=0)

    @property
    def idempotency_key(self) -> str:
        return f"{self.run_id}/{self.node}/{self.visit}/{self.attempt}"


class TaskResult(WireModel):
    #: Text, a structured mapping, or a tool's result.
    output: Any = None
    usage: Usage = Field(default_factory=Usage)
    tool_calls: int = 0


class TaskError(RuntimeError):
    """A task failed; the engine may retry it within the node's retry policy."""


class PermanentTaskError(TaskError):
    """A task failed in a way no retry can mend (bad configuration, refused request)."""


class NoAgents(TaskError):
    """No agent serves the task's capability right now: the run waits, it does not fail.

    ``retry_after``: seconds the agents asked to be left alone (HTTP ``Retry-After``), if any.
    """

    retry_after: float | None = None
