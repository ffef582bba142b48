"""An llm node's conversation: a messages field sent to the model, and its reply written back.

The state holds messages as JSON (``spec.messages``); a task carries them as provider-neutral
``Message`` objects, so they travel to an agent in the task request like the rendered prompts.
"""

from __future__ import annotations

import uuid
from typing import Any

from agent_runtime.executors import NodeTask, TaskResult
from agent_runtime.providers.base import Message
from agent_runtime.spec.workflow import LlmNode, WorkflowSpec

#: The namespace of the ids given to a node's reply messages: the same run, node, visit and
#: position always give the same id, so a replayed step writes the same messages.
_REPLY_IDS = uuid.UUID("6f1c1d0e-5b8a-4f7e-9a51-3c2f0e8d7a42")


def conversation(node: LlmNode, view: dict[str, Any]) -> list[Message]:
    """The messages of the node's ``messages`` field, as the model is sent them."""
    if node.messages is None:
        return []
    return [Message.model_validate(m) for m in view.get(node.messages) or []]


def replies_to_messages(spec: WorkflowSpec, node: LlmNode) -> bool:
    """Whether the node's ``output`` is a messages field, which takes its reply messages."""
    return isinstance(node.output, str) and spec.state[node.output].type == "messages"


def reply_id(task: NodeTask, position: int) -> str:
    """The id of the message at ``position`` among those the task adds (its streamed text's
    ``messageId`` too): any attempt of the same visit gives the same id."""
    return str(uuid.uuid5(_REPLY_IDS, f"{task.run_id}/{task.node}/{task.visit}/{position}"))


def reply(task: NodeTask, result: TaskResult) -> list[dict[str, Any]]:
    """The messages the task added (tool rounds, then the answer) in the state's form."""
    out = []
    for i, message in enumerate(result.messages):
        item: dict[str, Any] = {
            "role": message.role,
            "content": message.content,
            "id": reply_id(task, i),
        }
        if message.name:
            item["name"] = message.name
        if message.tool_calls:
            item["toolCalls"] = [c.model_dump(mode="json") for c in message.tool_calls]
        if message.tool_call_id:
            item["toolCallId"] = message.tool_call_id
        out.append(item)
    return out
