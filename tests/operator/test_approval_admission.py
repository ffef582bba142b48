"""requireApproval and run limits at admission, on the real API server with the shipped CRDs:
a node may gate only tools it has, only llm nodes gate, and a valid Workflow keeps every field."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.cluster

VALID = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: pay}
spec:
  state: {out: {type: string}}
  output: [out]
  models: {m: {provider: scripted}}
  tools:
    - {name: charge, function: "tests.counting_tools:record", requireApproval: true}
    - {name: refund, function: "tests.counting_tools:record"}
  nodes:
    - {name: pay, type: llm, model: m, prompt: go, tools: [charge, refund],
       requireApproval: [refund], output: out}
  edges: [{from: START, to: pay}, {from: pay, to: END}]
  limits: {maxTokens: 5000, maxToolCalls: 4, onExceeded: pause}
"""


def apply(kubectl: Any, namespace: str, text: str) -> Any:
    return kubectl("apply", "-n", namespace, "-f", "-", stdin=text, check=False)


def test_a_valid_gated_workflow_is_admitted_with_every_field(kubectl: Any, namespace: str) -> None:
    done = apply(kubectl, namespace, VALID)
    assert done.returncode == 0, done.stderr
    stored = json.loads(kubectl("get", "workflow", "pay", "-n", namespace, "-o", "json").stdout)
    spec = stored["spec"]
    assert spec["nodes"][0]["requireApproval"] == ["refund"]
    assert [t.get("requireApproval") for t in spec["tools"]] == [True, False]  # default false
    assert spec["limits"] == {
        "maxSteps": 50,
        "maxTokens": 5000,
        "maxToolCalls": 4,
        "onExceeded": "pause",
    }


@pytest.mark.parametrize(
    ("edit", "phrase"),
    [
        (
            ("requireApproval: [refund]", "requireApproval: [refund, wire]"),
            "'requireApproval' must name only tools of this node's 'tools'",
        ),
        (
            ("tools: [charge, refund],", ""),
            "'requireApproval' must name only tools of this node's 'tools'",
        ),
        (
            ("onExceeded: pause", "onExceeded: wait"),
            'spec.limits.onExceeded: Unsupported value: "wait"',
        ),
    ],
    ids=["not-its-tool", "no-tools", "bad-on-exceeded"],
)
def test_a_bad_gate_is_refused_naming_the_field(
    kubectl: Any, namespace: str, edit: tuple[str, str], phrase: str
) -> None:
    text = VALID.replace(*edit)
    assert text != VALID
    done = apply(kubectl, namespace, text)
    assert done.returncode != 0, "the API server admitted it"
    assert phrase in done.stderr, done.stderr
    field = "spec.limits.onExceeded" if "limits" in phrase else "spec.nodes[0].requireApproval"
    assert field in done.stderr, done.stderr
    gone = kubectl("get", "workflow", "pay", "-n", namespace, check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr


def test_only_llm_nodes_gate_their_tools(kubectl: Any, namespace: str) -> None:
    text = VALID.replace(
        "  edges: [{from: START, to: pay}, {from: pay, to: END}]",
        "    - {name: log, type: tool, tool: refund, requireApproval: [refund]}\n"
        "  edges: [{from: START, to: pay}, {from: pay, to: log}, {from: log, to: END}]",
    )
    done = apply(kubectl, namespace, text)
    assert done.returncode != 0, "the API server admitted it"
    assert "spec.nodes[1].requireApproval" in done.stderr, done.stderr
    assert "only llm nodes take 'requireApproval'" in done.stderr, done.stderr
