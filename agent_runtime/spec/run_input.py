"""A run's input checked against the fields its Workflow declares, once per run.

Whoever takes input first checks it here: the CLI before it opens a store (a bad run writes
nothing), the engine when a run is created through the API. The check returns a ``RunInput``
that names the spec it fits, so the engine takes input the CLI checked as it is, not again.
The answer to a human node is checked the same way against the node's ``output`` fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.spec.messages import with_ids
from agent_runtime.spec.state import StateField
from agent_runtime.spec.workflow import WorkflowSpec


class InputError(AgentRuntimeError, ValueError):
    """Input for a run (or a resume) does not fit the declared fields; ``problems`` name them."""

    code = "invalid_input"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def lines(self) -> list[str]:
        return self.problems

    @property
    def details(self) -> Any:
        """Each problem as ``{"field", "message"}``, for an API answer."""
        return [
            {"field": p.split(":", 1)[0], "message": p.split(":", 1)[-1].strip()}
            for p in self.problems
        ]


class RunInput(Mapping[str, Any]):
    """Input that fits the Workflow spec of content hash ``spec_hash``; made by ``check_input``."""

    __slots__ = ("_values", "spec_hash")

    def __init__(self, values: dict[str, Any], spec_hash: str) -> None:
        self._values = dict(values)
        self.spec_hash = spec_hash

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RunInput({self._values!r})"


def check_input(spec: WorkflowSpec, given: Mapping[str, Any]) -> RunInput:
    """The run's input, checked against ``spec.input``: every listed field, nothing else.

    Input already checked against this spec is returned as it is."""
    if isinstance(given, RunInput) and given.spec_hash == spec.content_hash():
        return given
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
                problems.append(_problem("input", name, why))
    if problems:
        raise InputError(problems)
    return RunInput(_normal(spec.state, dict(given)), spec.content_hash())


def _problem(prefix: str, name: str, why: str) -> str:
    """``input.tags[0]: ...`` for a problem inside a value, ``input.tags: ...`` for the value."""
    return f"{prefix}.{name}{why}" if why.startswith(("[", ".")) else f"{prefix}.{name}: {why}"


def _normal(fields: dict[str, StateField], given: dict[str, Any]) -> dict[str, Any]:
    """Checked values as the run records them: messages in their JSON form, each with an id
    (assigned once, here, so that the run keeps them whatever it replays)."""
    return {
        k: with_ids(v) if k in fields and fields[k].type == "messages" else v
        for k, v in given.items()
    }


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
            problems.append(_problem(prefix, name, why))
    if problems:
        raise InputError(problems)
    return _normal(fields, dict(given))
