"""Reading YAML files: syntax errors name the line, every document is read, errors are collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent_runtime.spec import (
    AgentPool,
    SpecError,
    Workflow,
    load_documents,
    load_file,
    parse_resource,
)

WORKFLOW = """\
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: hello}
spec:
  state: {topic: {type: string}, answer: {type: string}}
  models: {default: {provider: scripted}}
  nodes:
    - {name: answer, type: llm, prompt: "About {{ topic }}", output: answer}
  edges:
    - {from: START, to: answer}
    - {from: answer, to: END}
"""

POOL = """\
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: agents}
spec: {capabilities: [llm]}
"""


def write(tmp_path: Path, text: str, name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_single_workflow(tmp_path: Path) -> None:
    [workflow] = load_file(write(tmp_path, WORKFLOW))
    assert isinstance(workflow, Workflow)
    assert workflow.name == "hello" and workflow.namespace == "default"


def test_multi_document_file_keeps_order_and_skips_other_kinds(tmp_path: Path) -> None:
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
    text = f"---\n{WORKFLOW}---\n{config_map}---\n{POOL}---\n"
    resources = load_file(write(tmp_path, text))
    assert [type(r) for r in resources] == [Workflow, AgentPool]


def test_empty_documents_are_ignored(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "---\n# nothing here\n---\n")) == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("kind: Workflow\nmetadata: {name: x\nspec: {}\n", "line 3, column 5"),
        ("a: [1, 2\nb: 3\n", "line 2, column 2"),
        ("key: value\n\tindented: tab\n", "line 2, column 1"),
        ("a: 1\n  b: 2\n", "line 2, column 4"),
    ],
)
def test_malformed_yaml_names_the_line(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as caught:
        load_file(path)
    [problem] = caught.value.problems
    assert problem.path == ""
    assert problem.message.startswith(f"invalid YAML: {where}: ")
    assert str(caught.value).startswith(f"{path}: invalid YAML: {where}")


def test_malformed_yaml_names_where_the_unclosed_part_started() -> None:
    with pytest.raises(SpecError) as caught:
        load_documents("a: 1\nb: {c: 2\nd: 3\n")
    assert "started on line 2" in caught.value.problems[0].message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as caught:
        load_file(path)
    assert caught.value.lines() == [f"{path}: no such file"]


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_file(tmp_path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_non_mapping_document(tmp_path: Path, text: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_file(write(tmp_path, text))
    [problem] = caught.value.problems
    assert problem.path == ""
    assert "expected a mapping with apiVersion, kind, metadata and spec" in problem.message


def test_problems_of_every_document_are_collected(tmp_path: Path) -> None:
    bad_pool = POOL.replace("[llm]", "[]")
    text = f"{bad_pool}---\n- not a mapping\n---\n{WORKFLOW.replace('to: END', 'to: ENDD')}"
    with pytest.raises(SpecError) as caught:
        load_file(write(tmp_path, text))
    problems = [(p.path, p.message) for p in caught.value.problems]
    assert [p for p, _ in problems] == ["spec.capabilities", "", "spec.edges[1].to"]
    assert problems[0][1].startswith("document 1: ")
    assert (
        problems[1][1] == "document 2: expected a mapping with apiVersion, kind, metadata and spec"
    )
    assert problems[2][1].startswith("document 3: unknown node 'ENDD'")


def test_unknown_kind_in_parse_resource() -> None:
    with pytest.raises(SpecError) as caught:
        parse_resource({"apiVersion": "v1", "kind": "Pod"}, source="pod.yaml")
    assert caught.value.lines() == [
        "pod.yaml: kind: expected Workflow, AgentPool or Trigger, got 'Pod'"
    ]


def test_document_without_kind() -> None:
    with pytest.raises(SpecError) as caught:
        parse_resource({"metadata": {"name": "x"}})
    assert [(p.path, p.message) for p in caught.value.problems] == [
        ("kind", "expected Workflow, AgentPool or Trigger, got None")
    ]
