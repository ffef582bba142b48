"""A run as an A2A task: the task id is the run id, its context the run's thread, its state the
run's status, its artifact the run's output fields; a stream's updates are the run's events.

Everything here is read from the run store, so any gateway replica answers for any task.
"""

from __future__ import annotations

import json
from typing import Any

from a2a.types import (
    Artifact,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf.struct_pb2 import Struct

from agent_runtime.stores import RunEvent, RunRecord, RunStatus

STATES = {
    RunStatus.QUEUED: TaskState.TASK_STATE_SUBMITTED,
    RunStatus.RUNNING: TaskState.TASK_STATE_WORKING,
    RunStatus.INTERRUPTED: TaskState.TASK_STATE_INPUT_REQUIRED,
    RunStatus.SUCCEEDED: TaskState.TASK_STATE_COMPLETED,
    RunStatus.FAILED: TaskState.TASK_STATE_FAILED,
    RunStatus.CANCELLED: TaskState.TASK_STATE_CANCELED,
}
#: The artifact holding a finished run's output fields.
OUTPUT = "output"
#: The run's events a stream reports, as working status updates.
REPORTED = {"node.started", "node.finished", "node.delta"}


def struct(values: dict[str, Any]) -> Struct:
    out = Struct()
    out.update(json.loads(json.dumps(values, default=str)))  # JSON types only
    return out


def data_part(values: dict[str, Any]) -> Part:
    part = Part()
    part.data.struct_value.CopyFrom(struct(values))
    return part


def agent_message(run: RunRecord, parts: list[Part], message_id: str) -> Message:
    return Message(
        message_id=message_id,
        role=Role.ROLE_AGENT,
        parts=parts,
        task_id=run.id,
        context_id=run.thread_id or "",
    )


def said(run: RunRecord) -> list[Part] | None:
    """What the status says of a run that waits or ended badly: the prompt and what it asks
    for, or the error; None for the other states."""
    if run.status == RunStatus.INTERRUPTED:
        asked = run.interrupt or {}
        keep = ("kind", "id", "node", "prompt", "fields", "reason", "message", "calls")
        text = str(asked.get("prompt") or asked.get("message") or "The run waits for input")
        return [Part(text=text), data_part({k: asked[k] for k in keep if k in asked})]
    if run.status == RunStatus.FAILED:
        error = {"code": "run_failed", "message": "the run failed", **(run.error or {})}
        return [Part(text=f"{error['code']}: {error['message']}"), data_part(error)]
    if run.status == RunStatus.CANCELLED:
        return [Part(text=f"the run {run.id} was cancelled")]
    return None


def status(run: RunRecord) -> TaskStatus:
    out = TaskStatus(state=STATES[run.status])
    out.timestamp.FromDatetime(run.updated_at)
    if (parts := said(run)) is not None:
        stamp = int(run.updated_at.timestamp() * 1000)  # a run may wait more than once
        out.message.CopyFrom(agent_message(run, parts, f"{run.id}-{run.status.value}-{stamp}"))
    return out


def answer_text(output: dict[str, Any]) -> str | None:
    """The output as text, where it is one: a lone string field, or the last assistant message
    of a lone conversation field."""
    if len(output) != 1:
        return None
    value = next(iter(output.values()))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        replies = [m for m in value if isinstance(m, dict) and m.get("role") == "assistant"]
        if replies and isinstance(replies[-1].get("content"), str):
            return str(replies[-1]["content"])
    return None


def artifacts(run: RunRecord) -> list[Artifact]:
    """The output fields of a run that succeeded, as a data part (and as text where they are
    one answer)."""
    if run.status != RunStatus.SUCCEEDED:
        return []
    output = run.output or {}
    parts = [data_part(output)]
    if (text := answer_text(output)) is not None:
        parts.append(Part(text=text))
    return [Artifact(artifact_id=f"{run.id}-{OUTPUT}", name=OUTPUT, parts=parts)]


def task_of(run: RunRecord) -> Task:
    return Task(
        id=run.id,
        context_id=run.thread_id or "",
        status=status(run),
        artifacts=artifacts(run),
        metadata=struct({"workflow": f"{run.namespace}/{run.workflow}", "status": run.status}),
    )


def step_update(run: RunRecord, event: RunEvent) -> TaskStatusUpdateEvent | None:
    """A step started or finished, or a model's text as written: a working status update whose
    metadata names the event and its node; None for the run's other events."""
    if event.type not in REPORTED:
        return None
    node = str(event.data.get("node") or "")
    if event.type == "node.delta":
        text = str(event.data.get("text") or "")
        if not text:
            return None
    else:
        text = f"{node} {event.type.removeprefix('node.')}"
    meta = {"event": event.type, "node": node, "seq": event.seq}
    if event.type == "node.delta":
        meta["messageId"] = str(event.data.get("messageId") or "")
    out = TaskStatusUpdateEvent(
        task_id=run.id,
        context_id=run.thread_id or "",
        status=TaskStatus(
            state=TaskState.TASK_STATE_WORKING,
            message=agent_message(run, [Part(text=text)], f"{run.id}-{event.seq}"),
        ),
        metadata=struct(meta),
    )
    out.status.timestamp.FromDatetime(event.at)
    return out


def last_updates(run: RunRecord) -> list[TaskArtifactUpdateEvent | TaskStatusUpdateEvent]:
    """How a stream ends: the output artifact of a run that succeeded, then its final status."""
    ending: list[TaskArtifactUpdateEvent | TaskStatusUpdateEvent] = [
        TaskArtifactUpdateEvent(
            task_id=run.id, context_id=run.thread_id or "", artifact=a, last_chunk=True
        )
        for a in artifacts(run)
    ]
    ending.append(
        TaskStatusUpdateEvent(task_id=run.id, context_id=run.thread_id or "", status=status(run))
    )
    return ending
