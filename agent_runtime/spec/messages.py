"""Chat messages as a state type: their JSON form, the input forms accepted, and the reducer.

A ``messages`` field holds ``{role, content, id, name?, toolCalls?, toolCallId?}`` objects. Input
may also come in LangGraph's or OpenAI's shape (``type: human|ai|system|tool``, ``tool_calls``,
OpenAI's ``function.arguments`` text) or as a plain string (a user message); ``coerce_messages``
turns every form into ours. ``add_messages`` has LangGraph's semantics (append; a message whose id
is already present replaces it; ``{type: remove, id}`` removes one) but keeps plain JSON:
LangGraph's own ``add_messages`` turns values into LangChain message objects, which the stores
(JSON checkpoints), the events and the Runs API could not carry as they are.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
#: LangChain's message types (and the roles themselves) as our roles.
_ROLE_NAMES = {
    "human": "user",
    "ai": "assistant",
    "system": "system",
    "tool": "tool",
    "user": "user",
    "assistant": "assistant",
    "developer": "system",
}
#: LangGraph's id that removes every message before it (``REMOVE_ALL_MESSAGES``).
REMOVE_ALL = "__remove_all__"
_KEYS = {
    "role", "type", "content", "id", "name", "toolCalls", "tool_calls", "toolCallId",
    "tool_call_id", "additional_kwargs", "response_metadata", "usage_metadata",
    "invalid_tool_calls", "tool_call_chunks", "example", "status", "artifact", "refusal",
}  # fmt: skip

MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Message",
    "properties": {
        "role": {"type": "string", "enum": list(ROLES)},
        "content": {"type": "string"},
        "id": {"type": "string"},
        "name": {"type": "string"},
        "toolCalls": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "args": {"type": "object"},
                },
                "required": ["id", "name"],
            },
        },
        "toolCallId": {"type": "string"},
    },
    "required": ["role"],
}


class MessageError(ValueError):
    """A value is not a message; the text starts with where (``[2].role: ...``)."""


def is_message_schema(schema: dict[str, Any]) -> bool:
    """Whether a field's JSON Schema (``StateField.json_schema``) is that of a messages field."""
    items = schema.get("items")
    return (
        schema.get("type") == "array"
        and isinstance(items, dict)
        and items.get("title") == (MESSAGE_SCHEMA["title"])
    )


def new_id() -> str:
    return str(uuid.uuid4())


def _text(content: Any, where: str) -> str:
    """Content as text: a string, or OpenAI/LangChain content parts of which the text is kept."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for i, part in enumerate(content):
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise MessageError(f"{where}.content[{i}]: only text parts are supported")
        return "".join(texts)
    raise MessageError(f"{where}.content: expected a string, got {type(content).__name__}")


def _call(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MessageError(f"{where}: expected an object with id, name and args")
    function = value.get("function")
    if isinstance(function, dict):  # OpenAI: {id, type: function, function: {name, arguments}}
        name, args = function.get("name"), function.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args or "{}")
            except json.JSONDecodeError:
                raise MessageError(f"{where}.function.arguments: not JSON") from None
    else:
        name, args = value.get("name"), value.get("args", {})
    if not isinstance(name, str) or not name:
        raise MessageError(f"{where}.name: required")
    if not isinstance(args, dict):
        raise MessageError(f"{where}.args: expected an object")
    call_id = value.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise MessageError(f"{where}.id: required")
    return {"id": call_id, "name": name, "args": args}


def coerce_message(value: Any, where: str = "") -> dict[str, Any]:
    """One message in our JSON form; ``id`` stays missing if not given (the reducer adds it)."""
    if isinstance(value, str):
        return {"role": "user", "content": value}
    if not isinstance(value, dict):
        raise MessageError(f"{where}: expected a message object or a string")
    unknown = sorted(set(value) - _KEYS)
    if unknown:
        raise MessageError(f"{where}.{unknown[0]}: not a field of a message")
    kind = value.get("role", value.get("type"))
    role = _ROLE_NAMES.get(kind) if isinstance(kind, str) else None
    if role is None:
        key = "role" if "role" in value else "type"
        raise MessageError(f"{where}.{key}: must be one of {', '.join(ROLES)} (got {kind!r})")
    out: dict[str, Any] = {"role": role, "content": _text(value.get("content"), where)}
    for key in ("id", "name"):
        if value.get(key) is not None:
            if not isinstance(value[key], str):
                raise MessageError(f"{where}.{key}: expected a string")
            out[key] = value[key]
    calls = value.get("toolCalls", value.get("tool_calls"))
    if calls:
        if role != "assistant" or not isinstance(calls, list):
            raise MessageError(f"{where}.toolCalls: only an assistant message has a list of them")
        out["toolCalls"] = [_call(c, f"{where}.toolCalls[{i}]") for i, c in enumerate(calls)]
    answered = value.get("toolCallId", value.get("tool_call_id"))
    if role == "tool":
        if not isinstance(answered, str) or not answered:
            raise MessageError(f"{where}.toolCallId: a tool message names the call it answers")
        out["toolCallId"] = answered
    return out


def _removal(value: Any) -> str | None:
    """The id a LangGraph ``RemoveMessage`` (``{type: remove, id}``) removes, if it is one."""
    if isinstance(value, dict) and value.get("type") == "remove":
        target = value.get("id")
        return target if isinstance(target, str) and target else None
    return None


def coerce_messages(value: Any, where: str = "") -> list[dict[str, Any]]:
    """A list of messages (or removals) from a list, one message, or a string; ids kept."""
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        if _removal(item) is not None:
            out.append({"type": "remove", "id": _removal(item)})
        else:
            out.append(coerce_message(item, f"{where}[{i}]"))
    return out


def check_messages(value: Any) -> str | None:
    """Why ``value`` cannot be written to a messages field, or None when it can."""
    try:
        coerce_messages(value)
    except MessageError as exc:
        return str(exc)
    return None


def with_ids(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages in our form, each with an id (a new uuid where none was given)."""
    return [m if "id" in m else {**m, "id": new_id()} for m in coerce_messages(messages)]


def add_messages(left: list[dict[str, Any]] | None, right: Any) -> list[dict[str, Any]]:
    """LangGraph's ``add_messages`` over JSON: append, replace by id, remove by id."""
    out = list(left or [])
    index = {m.get("id"): i for i, m in enumerate(out)}
    for message in coerce_messages(right):
        if message.get("type") == "remove":
            if message["id"] == REMOVE_ALL:
                out, index = [], {}
            elif message["id"] in index:
                out = [m for m in out if m.get("id") != message["id"]]
                index = {m.get("id"): i for i, m in enumerate(out)}
            continue
        if "id" not in message:
            message["id"] = new_id()
        at = index.get(message["id"])
        if at is None:
            index[message["id"]] = len(out)
            out.append(message)
        else:
            out[at] = message
    return out


def replace_messages(left: list[dict[str, Any]] | None, right: Any) -> list[dict[str, Any]]:
    """The ``replace`` reducer of a messages field: the new list, in our form, with ids."""
    return add_messages([], [m for m in coerce_messages(right) if m.get("type") != "remove"])
