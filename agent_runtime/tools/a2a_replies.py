"""What an ``a2a`` tool's model hears back from a remote agent's answer: a message, or a task.

A completed task's artifacts (text, and data as JSON) are the result; a task that needs input
(``input-required``, ``auth-required``) is reported to the model with its id, so it can answer
by calling the tool again with that ``taskId``; a failed, rejected or cancelled task is a
ToolError carrying the remote's own words and the task's id.
"""

from __future__ import annotations

from typing import Any

from a2a.helpers.proto_helpers import get_data_parts, get_text_parts
from a2a.types.a2a_pb2 import Message, Part, Task, TaskState

from agent_runtime.tools.base import ToolError

#: A2A's names of the task states (``TASK_STATE_INPUT_REQUIRED`` is ``input-required``).
STATE_NAMES: dict[int, str] = {
    TaskState.TASK_STATE_SUBMITTED: "submitted",
    TaskState.TASK_STATE_WORKING: "working",
    TaskState.TASK_STATE_COMPLETED: "completed",
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_CANCELED: "canceled",
    TaskState.TASK_STATE_INPUT_REQUIRED: "input-required",
    TaskState.TASK_STATE_REJECTED: "rejected",
    TaskState.TASK_STATE_AUTH_REQUIRED: "auth-required",
}
#: States a task leaves by itself: the tool waits them out.
RUNNING = frozenset({TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING})
NEEDS_INPUT = frozenset({TaskState.TASK_STATE_INPUT_REQUIRED, TaskState.TASK_STATE_AUTH_REQUIRED})
#: Failures that may not happen again (the node's retry policy decides); a refusal will.
_RETRYABLE = frozenset({TaskState.TASK_STATE_FAILED})


def state_name(task: Task) -> str:
    return STATE_NAMES.get(task.status.state, "unknown")


def content(parts: list[Part]) -> Any:
    """Text parts as one string; with data parts, ``{"text", "data"}`` (one datum unwrapped)."""
    text = "\n".join(t for t in get_text_parts(parts) if t)
    data = get_data_parts(parts)
    if not data:
        return text
    return {"text": text, "data": data[0] if len(data) == 1 else data}


def _status_text(task: Task) -> str:
    if task.status.HasField("message"):
        return "\n".join(t for t in get_text_parts(task.status.message.parts) if t)
    return ""


def message_reply(message: Message) -> Any:
    """A remote agent's direct answer (no task)."""
    return content(list(message.parts))


def task_reply(tool: str, task: Task) -> Any:
    """The tool's result for a task that stopped running; ToolError for one that failed."""
    state = task.status.state
    if state == TaskState.TASK_STATE_COMPLETED:
        parts = [part for artifact in task.artifacts for part in artifact.parts]
        if not parts and task.status.HasField("message"):
            parts = list(task.status.message.parts)
        return content(parts)
    if state in NEEDS_INPUT:
        name = state_name(task)
        return {
            "taskId": task.id,
            "state": name,
            "message": _status_text(task),
            "note": (
                f"The remote agent needs {'authorization' if name == 'auth-required' else 'input'}"
                " to go on: to answer, call this tool again with this taskId and your message."
            ),
        }
    why = _status_text(task) or "no reason given"
    raise ToolError(
        f"{tool}: the remote agent's task {task.id} ended {state_name(task)}: {why}",
        retryable=state in _RETRYABLE,
    )
