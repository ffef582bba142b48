"""A delivery's run input: the Trigger's fixed ``input`` and one CEL expression per mapped field.

Expressions were checked when the Trigger was read (syntax, the names they read); what is left
is the payload's: a field it lacks, a value of the wrong type. Either is a 400 naming the input
field, so the sender (or the Trigger's author) sees which mapping failed, and no run is made.
"""

from __future__ import annotations

import json
from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.deps import _unstorable
from agent_runtime.spec.expressions import ExpressionError, compile_condition
from agent_runtime.spec.run_input import InputError, RunInput, check_input
from agent_runtime.spec.trigger import Trigger
from agent_runtime.spec.workflow import Workflow


class MappingFailed(AgentRuntimeError):
    """400: the payload does not give a run's input through the Trigger's mapping."""

    code = "mapping_failed"

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))
        self.details = [{"field": field, "message": message} for field, message in problems]


def _evaluate(source: str, variables: dict[str, Any]) -> Any:
    try:
        return compile_condition(source).execute(variables)
    except ExpressionError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ExpressionError(f"{source} failed on this payload: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"no field {exc.args[0]!r}" if exc.args else "no such field"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def wanted(trigger: Trigger, variables: dict[str, Any]) -> bool:
    """Whether the delivery starts a run (``when``, if any, is true)."""
    webhook = trigger.spec.webhook
    assert webhook is not None
    if webhook.when is None:
        return True
    try:
        return _evaluate(webhook.when, variables) is True
    except ExpressionError as exc:
        raise MappingFailed([("when", exc.problems[0].message)]) from None


def mapped_input(trigger: Trigger, workflow: Workflow, variables: dict[str, Any]) -> RunInput:
    """The run's input, checked against the Workflow; MappingFailed naming each bad field."""
    webhook = trigger.spec.webhook
    assert webhook is not None
    given: dict[str, Any] = dict(trigger.spec.input)
    problems: list[tuple[str, str]] = []
    for field, source in webhook.input.items():
        try:
            value = _evaluate(source, variables)
            json.dumps(value, allow_nan=False)
        except ExpressionError as exc:
            problems.append((f"input.{field}", exc.problems[0].message))
            continue
        except (TypeError, ValueError):
            problems.append((f"input.{field}", f"{source} gives a value JSON cannot hold"))
            continue
        given[field] = value
    if problems:
        raise MappingFailed(problems)
    try:
        checked = check_input(workflow.spec, given)
    except InputError as exc:
        raise MappingFailed(
            [(p.split(":", 1)[0], p.split(":", 1)[1].strip()) for p in exc.problems]
        ) from None
    # text no run store keeps (NUL, a lone surrogate): refused here as the Runs API refuses it
    if (found := _unstorable(dict(checked))) is not None:
        where, message = found
        raise MappingFailed([("input." + ".".join(map(str, where)), message)])
    return checked
