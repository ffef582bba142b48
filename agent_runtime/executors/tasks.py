"""The node task and its result: what the engine sends to an agent and gets back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.providers.base import Message, ToolCall, Usage, WireModel
from agent_runtime.spec.workflow import ModelSpec, ToolSpec
from agent_runtime.stores.records import ChildTask

PauseReason = Literal["approval", "tools", "maxTokens", "maxToolCalls"]


class Decision(WireModel):
    """What becomes of one tool call an llm task paused at: a person's answer to a gated call,
    and, for a call the engine ran itself (a tool that is not ``idempotent``), its result."""

    approved: bool
    reason: str = ""
    #: The call's answer, as the model gets it: the agent does not run the call.
    result: str | None = None


class TaskBudget(WireModel):
    """What is left of the run's limits when the task starts (None: no limit)."""

    tokens: int | None = None
    tool_calls: int | None = None


class Continuation(WireModel):
    """Where an llm task that paused goes on from: its conversation up to the model's last
    tool calls (not yet run), how many model rounds it took, and the answers to those calls."""

    messages: list[Message]
    rounds: int
    decisions: dict[str, Decision] = Field(default_factory=dict)


class TaskPause(WireModel):
    """An llm task stopped before running its model's tool calls: a gated tool, a tool the
    engine runs itself (``tools``), or the end of the run's budget. The engine answers (after an
    interrupt, or by running the calls) and sends a ``Continuation``."""

    reason: PauseReason
    messages: list[Message]
    rounds: int

    @property
    def calls(self) -> list[ToolCall]:
        return self.messages[-1].tool_calls


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
    #: The conversation of the node's ``messages`` field, sent after ``system``.
    messages: list[Message] = Field(default_factory=list)
    #: Sent after ``messages`` as a last user message (always, when there are no messages).
    prompt: str = ""
    #: The node's output is a messages field: return the messages the task adds.
    returns_messages: bool = False
    tools: list[ToolSpec] = Field(default_factory=list)
    max_tool_rounds: int = 8
    #: Tools whose calls wait for an approval (``requireApproval``).
    approval_required: list[str] = Field(default_factory=list)
    #: Tools the engine runs itself, once, with their results recorded (not ``idempotent``).
    recorded_tools: list[str] = Field(default_factory=list)
    budget: TaskBudget = Field(default_factory=TaskBudget)
    #: Set when the task goes on after a pause.
    resume: Continuation | None = None
    #: JSON Schema (type object) of a structured answer; None for plain text.
    output_schema: dict[str, Any] | None = None
    # tool nodes
    tool: ToolSpec | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    #: A person approved this call of a gated tool.
    approved: bool = False
    #: For a tool call the engine makes for an llm node: the model's id of the call.
    call_id: str | None = None
    #: Seconds the node allows this attempt (its ``timeout``): an agent stops the task then,
    #: when the engine stops waiting for it, instead of running on for nobody.
    timeout: float | None = Field(default=None, gt=0)
    #: For a call the engine makes once (a tool that is not ``idempotent``): an agent that gets
    #: to it later refuses to start it. By then the engine has given the call up (its timeout)
    #: or may have lost the run to another process (its lease), and a person may have chosen to
    #: make the call again: a late start would make it twice.
    start_by: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        call = f"/{self.call_id}" if self.call_id else ""
        return f"{self.run_id}/{self.node}/{self.visit}/{self.attempt}{call}"


class TaskResult(WireModel):
    #: Text, a structured mapping, or a tool's result.
    output: Any = None
    usage: Usage = Field(default_factory=Usage)
    tool_calls: int = 0
    #: Set when an llm task stopped before its model's tool calls ran.
    paused: TaskPause | None = None
    #: For a task that ``returns_messages``: the messages it added to the conversation (each
    #: round of tool calls with their results, then the model's answer).
    messages: list[Message] = Field(default_factory=list)
    #: Tasks its tool calls started on remote agents (``a2a`` tools), for the step's record.
    child_tasks: list[ChildTask] = Field(default_factory=list)


class TaskDelta(WireModel):
    """A piece of a model's answer as it is written, before the task's result.

    ``message``: the position, among the messages the task adds (``TaskResult.messages``), of
    the assistant message the text belongs to: each round of tool calls adds messages first.
    """

    text: str
    message: int = 0


#: The media type of a task answered as it is written (``Accept`` on ``POST /v1/tasks``):
#: NDJSON lines ``{"delta": TaskDelta}``, then ``{"result": ...}`` or ``{"error": ...}``.
TASK_STREAM_MEDIA_TYPE = "application/x-ndjson"

#: Told each piece of a task's model text as it comes (``Dispatcher.dispatch(on_delta=...)``).
OnDelta = Callable[[TaskDelta], Awaitable[None]]


class TaskError(AgentRuntimeError, RuntimeError):
    """A task failed; the engine may retry it within the node's retry policy."""

    code = "task_failed"
    retryable = True


class AgentLost(TaskError):
    """The agent went away while it held the task (its connection broke after the task was
    sent): whether the task took effect is unknown. Safe to send again only if idempotent."""

    code = "agent_lost"


class TaskNotStarted(TaskError):
    """The agent did not start the task: a call to make once came after its start deadline
    (``NodeTask.start_by``). Nothing took effect, so sending it again is safe; it is not a
    failure of the node (its retries are not spent)."""

    code = "task_not_started"


class PermanentTaskError(TaskError):
    """A task failed in a way no retry can mend (bad configuration, refused request)."""

    code = "task_permanent"
    retryable = False


class NoAgents(TaskError):
    """No agent serves the task's capability right now: the run waits, it does not fail.

    ``retry_after``: seconds the agents asked to be left alone (HTTP ``Retry-After``), if any.
    """

    code = "no_agents"
    retry_after: float | None = None
