"""The channels of a Workflow's LangGraph state: one per declared field, with its reducer, and
the hidden ones the engine keeps (visits per node, spend against limits)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from agent_runtime.spec.messages import add_messages, replace_messages
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
    "messages": list,
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


_REDUCERS: dict[str, Callable[[Any, Any], Any]] = {
    "append": _append,
    "merge": _merge,
    "sum": operator.add,
}
#: A messages field always has a reducer: even ``replace`` puts what it writes in our form.
_MESSAGE_REDUCERS = {"append": add_messages, "replace": replace_messages}


def reducer(field: StateField) -> Callable[[Any, Any], Any] | None:
    """The function that folds a write into ``field`` (None: the write replaces the value)."""
    if field.type == "messages":
        return _MESSAGE_REDUCERS[field.reducer]
    return _REDUCERS.get(field.reducer)


def state_schema(spec: WorkflowSpec) -> type:
    fields: dict[str, Any] = {}
    for name, field in spec.state.items():
        py = _PY[field.type]
        fold = reducer(field)
        fields[name] = Annotated[py, fold] if fold else py
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


def public(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k not in HIDDEN}
