"""What a message asks of a Workflow: a new run's input, or the answer to what a run waits for.

A data part holding an object is the input (or the answer) as it is, for any Workflow. Text
alone fits where one field is asked for: a Workflow's one input (a string as it is, a
``messages`` field as one user message, any other type read as JSON), or a human node's one
field. An approval is answered by a data part ``{approved, reason}``. What does not fit is
invalid params naming the field (``message.parts``, ``topic``), never a run that fails later.
"""

from __future__ import annotations

import json
from typing import Any

from a2a.types import Message, Part
from google.protobuf.json_format import MessageToDict
from pydantic import ValidationError

from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.gateway.a2a_server.errors import bad_field, bad_params, storable
from agent_runtime.spec import Workflow

PARTS = "message.parts"


def plain(value: Any) -> Any:
    """A protobuf ``Value`` read back as JSON: its whole numbers as integers (it keeps every
    number as a double, and an ``integer`` field refuses ``3.0``)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def data_of(part: Part) -> Any:
    return plain(MessageToDict(part.data))


def read(message: Message) -> tuple[dict[str, Any] | None, str]:
    """The message's one data object (None without one) and its text parts joined."""
    objects = [data_of(p) for p in message.parts if p.HasField("data")]
    objects = [o for o in objects if isinstance(o, dict)]
    if len(objects) > 1:
        raise bad_field(PARTS, "send one data part holding the object, not several")
    text = "\n".join(p.text for p in message.parts if p.HasField("text"))
    if not objects and not text:
        raise bad_field(PARTS, "expected a text part or a data part holding an object")
    return (objects[0] if objects else None), text


def from_text(field: str, kind: Any, text: str) -> Any:
    """Text as the value of one field of this type (``string``, ``messages``, ...)."""
    if kind in ("string", None):
        return text
    if kind == "messages":
        return [{"role": "user", "content": text}]
    try:
        return json.loads(text)
    except ValueError:
        raise bad_params([{"field": field, "message": f"expected {kind} as JSON"}]) from None


def run_input(workflow: Workflow, message: Message) -> dict[str, Any]:
    """The input of a new run of ``workflow`` from the message that starts its task."""
    data, text = read(message)
    spec = workflow.spec
    if data is None:
        if len(spec.input) != 1:
            fields = ", ".join(spec.input) or "none"
            raise bad_field(PARTS, f"send a data part holding the inputs ({fields})")
        name = spec.input[0]
        data = {name: from_text(name, spec.state[name].type, text)}
    storable(data)
    return data


def answer(interrupt: dict[str, Any], message: Message) -> dict[str, Any] | ApprovalInput:
    """The answer to what a run waits for, from the message sent on its task."""
    data, text = read(message)
    if interrupt.get("kind") == "approval":
        if data is None:
            raise bad_field(PARTS, "an approval is a data part {approved, reason}")
        storable(data)
        try:
            return ApprovalInput.model_validate(data)
        except ValidationError as exc:
            problems = [
                {"field": ".".join(str(p) for p in e["loc"]) or PARTS, "message": e["msg"]}
                for e in exc.errors()
            ]
            raise bad_params(problems) from None
    if data is None:
        fields = interrupt.get("fields") or {}
        if len(fields) != 1:
            raise bad_field(PARTS, f"send a data part holding {', '.join(fields) or 'the answer'}")
        name, schema = next(iter(fields.items()))
        data = {
            name: from_text(name, schema.get("type") if isinstance(schema, dict) else None, text)
        }
    storable(data)
    return data
