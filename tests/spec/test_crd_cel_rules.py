"""The CRDs' CEL admission rules compile and reject what the models reject, at the right field."""

from __future__ import annotations

import copy
import re
from typing import Any

import cel
import pytest

from tests.spec.crd_schema import (
    VALIDATIONS,
    cel_failures,
    schema_of,
    walk,
)

# --- CEL rules --------------------------------------------------------------------------------

_BOUND = re.compile(r"\.\s*(?:all|exists|exists_one|map|filter)\s*\(\s*([A-Za-z_]\w*)\s*,")


def all_rules() -> list[tuple[str, str, str]]:
    out = []
    for kind in ("Workflow", "AgentPool"):
        for path, node in walk(schema_of(kind)):
            for rule in node.get(VALIDATIONS, []):
                for key in ("rule", "messageExpression"):
                    if key in rule:
                        out.append((f"{kind}{path}", key, rule[key]))
    return out


@pytest.mark.parametrize(("path", "key", "source"), all_rules())
def test_cel_rule_compiles(path: str, key: str, source: str) -> None:
    program = cel.compile(source)
    unbound = set(program.variables()) - set(_BOUND.findall(source)) - {"self"}
    assert not unbound, f"{path} {key} names unknown variables {unbound}"


def test_there_are_admission_rules_for_the_graph() -> None:
    spec = schema_of("Workflow")["properties"]["spec"]
    messages = " ".join(r["message"] for r in spec[VALIDATIONS])
    assert "'to' must name a node or END" in messages
    assert "spec.models" in messages
    nodes = spec["properties"]["nodes"]
    assert nodes["maxItems"] == 200
    assert "unique" in nodes[VALIDATIONS][0]["message"]
    assert spec["properties"]["edges"]["maxItems"] == 500


# The admission rules reject what the models reject, at the field the apiserver reports.

BASE: dict[str, Any] = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "Workflow",
    "metadata": {"name": "brief"},
    "spec": {
        "state": {"topic": {"type": "string"}, "draft": {"type": "string"}},
        "input": ["topic"],
        "output": ["draft"],
        "models": {"default": {"provider": "scripted"}},
        "tools": [{"name": "search", "function": "pkg.mod:search"}],
        "nodes": [
            {"name": "write", "type": "llm", "prompt": "On {{ topic }}", "tools": ["search"]},
            {"name": "fetch", "type": "tool", "tool": "http_get", "args": {"url": "x"}},
            {"name": "check", "type": "router"},
        ],
        "edges": [
            {"from": "START", "to": "write"},
            {"from": "write", "to": "fetch"},
            {"from": "fetch", "to": "check"},
            {
                "from": "check",
                "branches": [{"when": "state.draft != ''", "to": "END"}, {"to": "write"}],
            },
        ],
    },
}


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, last = re.findall(r"[^.\[\]]+", path)
    target: Any = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


_DELETE = object()


def test_base_passes_the_cel_rules() -> None:
    assert cel_failures(schema_of("Workflow"), BASE) == []


def test_an_a2a_tool_passes_the_cel_rules() -> None:
    tool = {"name": "search", "a2a": {"url": "https://agents.example/a2a/demo/brief"}}
    assert cel_failures(schema_of("Workflow"), _set(BASE, "spec.tools.0", tool)) == []


@pytest.mark.parametrize(
    ("path", "value", "where", "phrase"),
    [
        ("spec.nodes.2.name", "write", "spec.nodes", "node names must be unique"),
        ("spec.nodes.2.name", "END", "spec.nodes[2].name", "reserved"),
        ("spec.edges.1.to", "wirte", "spec.edges", "'to' must name a node or END"),
        ("spec.edges.1.to", "START", "spec.edges[1].to", "cannot lead back to START"),
        ("spec.edges.3.branches.1.to", "START", "spec.edges[3].branches[1].to", "back to START"),
        ("spec.edges.3.branches.0", {"to": "END"}, "spec.edges[3].branches", "only one branch"),
        (
            "spec.edges.3.branches",
            [{"to": "END"}, {"when": "true", "to": "write"}],
            "spec.edges[3].branches",
            "must be last",
        ),
        (
            "spec.edges.1",
            {"from": "write", "to": "fetch", "branches": []},
            "spec.edges[1]",
            "exactly one",
        ),
        ("spec.nodes.0.prompt", _DELETE, "spec.nodes", "needs a 'prompt' or 'messages'"),
        ("spec.nodes.0.messages", "topic", "spec.nodes", "a state field of type messages"),
        ("spec.nodes.0.messages", "nope", "spec.nodes", "a state field of type messages"),
        ("spec.nodes.1.messages", "topic", "spec.nodes[1].messages", "only llm nodes"),
        ("spec.nodes.1.tool", _DELETE, "spec.nodes[1].tool", "tool nodes need 'tool'"),
        ("spec.nodes.2.prompt", "hi", "spec.nodes[2].prompt", "only llm and human nodes"),
        ("spec.nodes.1.model", "default", "spec.nodes[1].model", "only llm nodes take 'model'"),
        ("spec.nodes.0.model", "fast", "spec.nodes", "must be declared under spec.models"),
        ("spec.nodes.1.tool", "serch", "spec.nodes", "declared under spec.tools"),
        ("spec.nodes.0.tools", ["nope"], "spec.nodes", "declared under spec.tools"),
        ("spec.input", ["topik"], "spec.input", "declared state fields"),
        ("spec.output", ["nope"], "spec.output", "declared state fields"),
        ("spec.state.topic.reducer", "append", "spec.state[topic].reducer", "does not fit"),
        (
            "spec.models.default",
            {"provider": "openai"},
            "spec.models[default].model",
            "model' name",
        ),
        (
            "spec.models.default",
            {"provider": "openai", "model": "m", "delay": "1s"},
            "spec.models[default].delay",
            "only the scripted provider",
        ),
        (
            "spec.models.default",
            {"provider": "anthropic", "model": "m", "baseUrl": "http://x"},
            "spec.models[default].baseUrl",
            "openai and ollama",
        ),
        ("spec.tools.0", {"name": "search"}, "spec.tools[0]", "exactly one of httpGet"),
        (
            "spec.tools.0",
            {"name": "search", "function": "p.m:f", "a2a": {"url": "https://a.example"}},
            "spec.tools[0]",
            "exactly one of httpGet, function, mcp or a2a",
        ),
        ("metadata.name", "Brief", "", "DNS label"),
    ],
)
def test_cel_rule_rejects(path: str, value: Any, where: str, phrase: str) -> None:
    failures = cel_failures(schema_of("Workflow"), _set(BASE, path, value))
    assert any(p == where and phrase in m for p, m in failures), failures


POOL: dict[str, Any] = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "AgentPool",
    "metadata": {"name": "pool"},
    "spec": {
        "capabilities": ["llm"],
        "autoscaling": {"minReplicas": 2, "maxReplicas": 4},
        "env": [
            {"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
        ],
    },
}


@pytest.mark.parametrize(
    ("path", "value", "where", "phrase"),
    [
        ("spec.capabilities", ["llm", "llm"], "spec.capabilities", "listed once"),
        ("spec.autoscaling.maxReplicas", 1, "spec.autoscaling.maxReplicas", "below 'minReplicas'"),
        ("spec.env.0", {"name": "api_token", "value": "x"}, "spec.env[0].value", "credential"),
        (
            "spec.autoscaling.minReplicas",
            0,
            "spec.autoscaling.minReplicas",
            "0 needs metric: queue",
        ),
        ("spec.autoscaling.queue", {}, "spec.autoscaling.queue", "only with metric: queue"),
    ],
)
def test_agentpool_cel_rule_rejects(path: str, value: Any, where: str, phrase: str) -> None:
    assert cel_failures(schema_of("AgentPool"), POOL) == []
    failures = cel_failures(schema_of("AgentPool"), _set(POOL, path, value))
    assert any(p == where and phrase in m for p, m in failures), failures


def test_agentpool_on_the_queue_may_scale_to_zero() -> None:
    queue = {"metric": "queue", "minReplicas": 0, "maxReplicas": 4, "queue": {"cooldownSeconds": 5}}
    assert cel_failures(schema_of("AgentPool"), _set(POOL, "spec.autoscaling", queue)) == []
