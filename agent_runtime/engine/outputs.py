"""Mapping a task's answer into the state fields a node declares as its output."""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.executors import TaskError
from agent_runtime.spec.state import StateField
from agent_runtime.spec.workflow import WorkflowSpec


def output_schema(output: str | dict[str, StateField] | None) -> dict[str, Any] | None:
    """The JSON Schema a structured answer must follow, or None for plain text."""
    if not isinstance(output, dict):
        return None
    return {
        "type": "object",
        "properties": {k: f.json_schema() for k, f in output.items()},
        "required": list(output),
        "additionalProperties": False,
    }


def map_output(
    spec: WorkflowSpec, output: str | dict[str, StateField] | None, value: Any
) -> dict[str, Any]:
    if output is None:
        return {}
    if isinstance(output, str):
        return {output: _coerce(output, spec.state[output], value)}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise TaskError(f"expected a JSON object with {', '.join(output)}, got text") from None
    if not isinstance(value, dict):
        raise TaskError(f"expected an object with {', '.join(output)}, got {type(value).__name__}")
    missing = [k for k in output if k not in value]
    if missing:
        raise TaskError(f"the answer lacks {', '.join(missing)}")
    return {k: _coerce(k, declared, value[k]) for k, declared in output.items()}


def _coerce(name: str, field: StateField, value: Any) -> Any:
    if field.reducer == "append" and not isinstance(value, list):
        value = [value]  # one item appended to a list field
    if field.type == "string" and not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    elif field.type != "string" and isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pass
    if field.type == "number" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    why = field.check(value)
    if why:
        raise TaskError(f"output {name}: {why}")
    return value
