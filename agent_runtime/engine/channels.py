"""The LangGraph state schema of a Workflow, and checking values against declared fields."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from agent_runtime.engine.errors import InputError
from agent_runtime.spec.state import StateField
from agent_runtime.spec.workflow import WorkflowSpec

#: Hidden channel counting visits per node, so the n-th visit is known even after a restart.
VISITS = "__visits"
#: Hidden channel summing what the run spent against its limits, and the extensions granted
#: (see ``engine.limits``); summed like visits, so parallel branches add up.
USAGE = "__usage"
HIDDEN = (VISITS, USAGE)

_PY = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _append(left: list[Any] | None, right: Any) -> list[Any]:
    return [*(left or []), *(right if isinstance(right, list) else [right])]


def _merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    return {**(left or {}), **(right or {})}


def _count(left: dict[str, int] | None, right: dict[str, int] | None) -> dict[str, int]:
    out = dict(left or {})
    for key, n in (right or {}).items():
        out[key] = out.get(key, 0) + n
    return out


_REDUCERS = {"append": _append, "merge": _merge, "sum": operator.add}


def state_schema(spec: WorkflowSpec) -> type:
    fields: dict[str, Any] = {}
    for name, field in spec.state.items():
        py = _PY[field.type]
        reducer = _REDUCERS.get(field.reducer)
        fields[name] = Annotated[py, reducer] if reducer else py
    fields[VISITS] = Annotated[dict, _count]
    fields[USAGE] = Annotated[dict, _count]
    return TypedDict("WorkflowState", fields, total=False)  # type: ignore[operator,no-any-return]


def initial_state(spec: WorkflowSpec, given: dict[str, Any]) -> dict[str, Any]:
    """Every declared field at its zero value or default, then the run's input."""
    state = {name: field.zero() for name, field in spec.state.items()}
    state.update(given)
    state[VISITS] = {}
    state[USAGE] = {}
    return state


def check_input(spec: WorkflowSpec, given: dict[str, Any]) -> dict[str, Any]:
    """The run's input, checked against ``spec.input``: every listed field, nothing else."""
    problems = [
        f"input.{name}: not an input of this workflow (inputs: {', '.join(spec.input) or 'none'})"
        for name in given
        if name not in spec.input
    ]
    for name in spec.input:
        if name not in given:
            problems.append(f"input.{name}: required")
        else:
            why = spec.state[name].check(given[name])
            if why:
                problems.append(f"input.{name}: {why}")
    if problems:
        raise InputError(problems)
    return dict(given)


def check_fields(
    fields: dict[str, StateField], given: dict[str, Any], *, prefix: str = "input"
) -> dict[str, Any]:
    """Resume input of a human node: exactly the declared fields, each of its type."""
    problems = [
        f"{prefix}.{k}: not asked for (expected: {', '.join(fields) or 'nothing'})"
        for k in given
        if k not in fields
    ]
    for name, field in fields.items():
        if name not in given:
            problems.append(f"{prefix}.{name}: required")
        elif (why := field.check(given[name])) is not None:
            problems.append(f"{prefix}.{name}: {why}")
    if problems:
        raise InputError(problems)
    return dict(given)


def public(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in HIDDEN}
