"""A run's input is checked once, in the spec layer: what was checked against a spec is taken as
it is for that spec, and checked again for any other."""

from __future__ import annotations

import pytest

from agent_runtime.spec import Workflow, parse_workflow
from agent_runtime.spec.run_input import InputError, RunInput, check_fields, check_input
from agent_runtime.spec.state import StateField


def workflow(inputs: str) -> Workflow:
    return parse_workflow(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "w"},
            "spec": {
                "state": {"topic": {"type": "string"}, "n": {"type": "integer"}},
                "input": inputs.split(","),
                "output": ["topic"],
                "nodes": [{"name": "ask", "type": "human", "output": {"n": {"type": "integer"}}}],
                "edges": [{"from": "START", "to": "ask"}, {"from": "ask", "to": "END"}],
            },
        }
    )


def test_checked_input_names_its_spec_and_is_taken_as_it_is() -> None:
    spec = workflow("topic").spec
    checked = check_input(spec, {"topic": "leases"})
    assert isinstance(checked, RunInput)
    assert dict(checked) == {"topic": "leases"}
    assert checked.spec_hash == spec.content_hash()
    assert check_input(spec, checked) is checked


def test_input_checked_against_another_spec_is_checked_again() -> None:
    checked = check_input(workflow("topic").spec, {"topic": "leases"})
    with pytest.raises(InputError) as err:
        check_input(workflow("topic,n").spec, checked)
    assert err.value.problems == ["input.n: required"]


def test_every_problem_is_named() -> None:
    with pytest.raises(InputError) as err:
        check_input(workflow("topic").spec, {"topic": 3, "extra": 1})
    assert err.value.lines() == [
        "input.extra: not an input of this workflow (inputs: topic)",
        "input.topic: expected string, got integer",
    ]
    assert err.value.code == "invalid_input"


def test_a_human_answer_has_exactly_the_fields_asked_for() -> None:
    fields = {"n": StateField(type="integer")}
    assert check_fields(fields, {"n": 2}) == {"n": 2}
    with pytest.raises(InputError) as err:
        check_fields(fields, {"m": 1}, prefix="answer")
    assert err.value.problems == ["answer.m: not asked for (expected: n)", "answer.n: required"]
