"""Chat messages as LangChain serialises them (``type: human|ai|system|tool``), which LangGraph
clients (``useStream``, Agent Chat UI, ``RemoteGraph``) read; a Workflow keeps ``role``."""

from __future__ import annotations

from typing import Any

from agent_runtime.spec.workflow import WorkflowSpec

_TYPES = {"user": "human", "assistant": "ai", "system": "system", "tool": "tool"}


def langchain_message(message: Any) -> Any:
    """One message in LangChain's shape; anything else as it is."""
    if not isinstance(message, dict) or "role" not in message:
        return message
    out: dict[str, Any] = {
        "type": _TYPES.get(str(message["role"]), str(message["role"])),
        "content": message.get("content", ""),
        "id": message.get("id"),
        "name": message.get("name"),
        "additional_kwargs": {},
        "response_metadata": {},
    }
    if out["type"] == "ai":
        out["tool_calls"] = [
            {
                "name": c.get("name"),
                "args": c.get("args", {}),
                "id": c.get("id"),
                "type": "tool_call",
            }
            for c in message.get("toolCalls") or []
        ]
        out["invalid_tool_calls"] = []
    if out["type"] == "tool":
        out["tool_call_id"] = message.get("toolCallId")
    return out


def message_fields(spec: WorkflowSpec) -> frozenset[str]:
    return frozenset(name for name, field in spec.state.items() if field.type == "messages")


def for_clients(fields: frozenset[str], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every message of a messages field in LangChain's shape."""
    if not fields:
        return values
    return {
        key: [langchain_message(m) for m in value]
        if key in fields and isinstance(value, list)
        else value
        for key, value in values.items()
    }
