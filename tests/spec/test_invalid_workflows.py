"""One invalid variant of a valid Workflow per rule, each naming the exact field path."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent_runtime.spec import SpecError, Workflow, parse_resource
from tests.spec.invalid_field_cases import FIELD_CASES
from tests.spec.invalid_graph_cases import GRAPH_CASES
from tests.spec.invalid_model_cases import MODEL_CASES
from tests.spec.workflow_edits import BASE, edits

CASES = GRAPH_CASES + FIELD_CASES + MODEL_CASES


def test_base_is_valid() -> None:
    workflow = parse_resource(BASE)
    assert isinstance(workflow, Workflow)
    assert [n.name for n in workflow.spec.nodes] == [
        "research",
        "write",
        "fetch",
        "check",
        "review",
    ]


@pytest.mark.parametrize(
    ("doc", "path", "phrase"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_variant_names_the_field(doc: dict[str, Any], path: str, phrase: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert any(p == path and phrase in m for p, m in problems), problems


def test_cases_cover_every_rule_once() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 25


def test_all_problems_are_reported_at_once() -> None:
    doc = edits(
        ("spec.input[0]", "topc"), ("spec.edges[3].to", "wirte"), ("spec.nodes[1].model", "fast")
    )
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    assert {p.path for p in caught.value.problems} == {
        "spec.input[0]",
        "spec.edges[3].to",
        "spec.nodes[1].model",
    }


def test_error_lines_name_the_source_and_path() -> None:
    with pytest.raises(SpecError) as caught:
        parse_resource(edits(("spec.edges[3].to", "wirte")), source="brief.yaml")
    assert caught.value.lines() == [
        "brief.yaml: spec.edges[3].to: unknown node 'wirte'; did you mean 'write'?"
    ]


def test_a_graph_may_end_at_a_human_node() -> None:
    """Nodes that reach a human node but never END are fine: the run waits there to be resumed."""
    doc = edits(("spec.edges[5]", {"from": "review", "to": "write"}))
    assert isinstance(parse_resource(doc), Workflow)


@pytest.mark.parametrize("name", ["__visits", "state", "has-dash"])
def test_state_field_names_are_plain_identifiers(name: str) -> None:
    doc = copy.deepcopy(BASE)
    doc["spec"]["state"][name] = {"type": "string"}
    with pytest.raises(SpecError) as err:
        parse_resource(doc)
    assert [p.path for p in err.value.problems] == [f"spec.state.{name}"]
    assert "must be an identifier" in err.value.problems[0].message
