"""The CRDs in crds/ are fresh, structural, and their CEL rules compile and hold on the examples."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import cel
import pytest
import yaml

from agent_runtime.spec.crd import build_crds, render_crd, render_crds

REPO = Path(__file__).resolve().parents[2]
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
VALIDATIONS = "x-kubernetes-validations"

#: The keys a Kubernetes structural schema node may hold (apiextensions.k8s.io/v1 JSONSchemaProps
#: that CRDs accept, less the ones that make a schema non-structural or that we never need).
ALLOWED_KEYS = {
    "type", "description", "properties", "additionalProperties", "items", "required", "enum",
    "default", "nullable", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "multipleOf", "minLength", "maxLength", "pattern", "minItems", "maxItems", "minProperties",
    "maxProperties", "example", PRESERVE, VALIDATIONS, "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource", "x-kubernetes-list-type", "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}  # fmt: skip
TYPES = {"object", "array", "string", "integer", "number", "boolean"}
RULE_KEYS = {"rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf"}


def crd(kind: str) -> dict[str, Any]:
    return next(c for c in build_crds() if c["spec"]["names"]["kind"] == kind)


def schema_of(kind: str) -> dict[str, Any]:
    version = crd(kind)["spec"]["versions"][0]
    return copy.deepcopy(version["schema"]["openAPIV3Schema"])


def walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (``.properties.x``, ``.items``, ``.additionalProperties``)."""
    nodes = [(path, schema)]
    for name, sub in (schema.get("properties") or {}).items():
        nodes += walk(sub, f"{path}.{name}")
    if isinstance(schema.get("additionalProperties"), dict):
        nodes += walk(schema["additionalProperties"], f"{path}{{}}")
    if isinstance(schema.get("items"), dict):
        nodes += walk(schema["items"], f"{path}[]")
    return nodes


def structural_problems(schema: dict[str, Any]) -> list[str]:
    """Why a schema is not structural, after the Kubernetes rules for CRD schemas."""
    problems = []
    if schema.get("type") != "object":
        problems.append("root: type must be object")
    for path, node in walk(schema):
        where = path or "root"
        for key in set(node) - ALLOWED_KEYS:
            problems.append(f"{where}: {key!r} is not allowed in a structural schema")
        preserve = node.get(PRESERVE)
        if preserve is not None and preserve is not True:
            problems.append(f"{where}: {PRESERVE} must be true when set")
        if "type" in node and node["type"] not in TYPES:
            problems.append(f"{where}: unknown type {node['type']!r}")
        if "type" not in node and not preserve and not node.get("x-kubernetes-int-or-string"):
            problems.append(f"{where}: needs a type (or {PRESERVE})")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties and additionalProperties are mutually exclusive")
        if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
            problems.append(f"{where}: additionalProperties must be a schema, not a boolean")
        if ("properties" in node or "additionalProperties" in node) and node.get(
            "type"
        ) != "object":
            problems.append(f"{where}: properties need type object")
        if node.get("type") == "array" and not isinstance(node.get("items"), dict):
            problems.append(f"{where}: an array needs one items schema")
        for name in node.get("required", []):
            if name not in (node.get("properties") or {}):
                problems.append(f"{where}: required {name!r} is not a property")
        if "nullable" in node and not isinstance(node["nullable"], bool):
            problems.append(f"{where}: nullable must be a boolean")
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            if key in node and not isinstance(node[key], bool):
                problems.append(f"{where}: {key} must be a boolean in OpenAPI v3.0")
        if "default" in node and node["default"] is None:
            problems.append(f"{where}: a null default")
        for rule in node.get(VALIDATIONS, []):
            if set(rule) - RULE_KEYS or "rule" not in rule or not rule.get("message"):
                problems.append(f"{where}: a validation needs a rule and a message: {rule}")
            field_path = rule.get("fieldPath")
            if field_path is not None:
                name = field_path.removeprefix(".")
                if not field_path.startswith(".") or name not in (node.get("properties") or {}):
                    problems.append(f"{where}: fieldPath {field_path!r} names no property")
    metadata = schema.get("properties", {}).get("metadata")
    if metadata != {"type": "object"}:
        problems.append(f"root.metadata: must be just {{type: object}}, got {metadata}")
    return problems


# --- freshness -------------------------------------------------------------------------------


def test_crd_files_are_fresh() -> None:
    expected = {f"{c['metadata']['name']}.yaml": render_crd(c) for c in build_crds()}
    found = {p.name for p in CRDS.glob("*.yaml")}
    assert found == set(expected), (
        f"crds/ holds {sorted(found)}, expected {sorted(expected)}: run `make crds`"
    )
    for name, text in expected.items():
        assert (CRDS / name).read_text(encoding="utf-8") == text, (
            f"crds/{name} is stale: run `make crds`"
        )


def test_render_is_stable_multi_document_yaml_with_a_header() -> None:
    text = render_crds()
    assert text == render_crds()
    assert text.startswith("# Generated by `configurable-agents crds`")
    docs = list(yaml.safe_load_all(text))
    assert [d["metadata"]["name"] for d in docs] == [
        "agentpools.configurable-agents.io",
        "workflows.configurable-agents.io",
    ]
    assert docs == build_crds()


# --- names, columns, subresources -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "plural", "short"),
    [("Workflow", "workflows", "cawf"), ("AgentPool", "agentpools", "agp")],
)
def test_names(kind: str, plural: str, short: str) -> None:
    spec = crd(kind)["spec"]
    assert crd(kind)["apiVersion"] == "apiextensions.k8s.io/v1"
    assert spec["group"] == "configurable-agents.io"
    assert spec["scope"] == "Namespaced"
    assert spec["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": kind.lower(),
        "shortNames": [short],
        "categories": ["configurable-agents"],
    }
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"]["status"] == {}


def test_workflow_columns_and_status() -> None:
    version = crd("Workflow")["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Reason"] == '.status.conditions[?(@.type=="Ready")].reason'
    assert columns["Age"] == ".metadata.creationTimestamp"
    assert "scale" not in version["subresources"]
    status = schema_of("Workflow")["properties"]["status"]["properties"]
    assert status["observedGeneration"]["type"] == "integer"
    assert status["graph"]["type"] == "string"
    assert status["capabilities"] == {"type": "object", PRESERVE: True}
    condition = status["conditions"]["items"]["properties"]
    assert {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    } <= set(condition)


def test_agentpool_scale_columns_and_status() -> None:
    version = crd("AgentPool")["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = {c["name"]: (c["jsonPath"], c["type"]) for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Workload": (".spec.workload", "string"),
        "Desired": (".spec.replicas", "integer"),
        "Ready": (".status.readyReplicas", "integer"),
        "Capabilities": (".spec.capabilities", "string"),
        "Age": (".metadata.creationTimestamp", "date"),
    }
    status = schema_of("AgentPool")["properties"]["status"]["properties"]
    assert {k: status[k]["type"] for k in ("replicas", "readyReplicas", "selector")} == {
        "replicas": "integer",
        "readyReplicas": "integer",
        "selector": "string",
    }


# --- structural schema ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Workflow", "AgentPool"])
def test_schema_is_structural(kind: str) -> None:
    assert structural_problems(schema_of(kind)) == []


def test_structural_checker_catches_violations() -> None:
    bad = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object"},
            "a": {"$ref": "#/$defs/A"},
            "b": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "c": {
                "type": "object",
                "properties": {"x": {"type": "string"}},
                "additionalProperties": False,
            },
            "d": {"type": "string", "title": "D"},
        },
    }
    problems = "\n".join(structural_problems(bad))
    for expected in ("'$ref'", "'anyOf'", "additionalProperties", "'title'", ".b: needs a type"):
        assert expected in problems


def test_node_union_is_one_object_with_type_enum_and_rules() -> None:
    node = schema_of("Workflow")["properties"]["spec"]["properties"]["nodes"]["items"]
    assert node["type"] == "object"
    assert node["properties"]["type"]["enum"] == ["llm", "tool", "router", "human"]
    assert {"name", "prompt", "tool", "model", "args", "output", "retry"} <= set(node["properties"])
    assert node["properties"]["output"] == {PRESERVE: True}
    rules = [r["rule"] for r in node[VALIDATIONS]]
    assert "self.type != 'tool' || has(self.tool)" in rules
    # an llm node needs a prompt or messages: a rule over the node, kept with the spec's rules
    spec_rules = [r["rule"] for r in schema_of("Workflow")["properties"]["spec"][VALIDATIONS]]
    assert "self.nodes.all(n, n.type != 'llm' || has(n.prompt) || has(n.messages))" in spec_rules
    assert "self.type == 'llm' || !has(self.model)" in rules


def test_free_form_and_union_fields_preserve_unknown_fields() -> None:
    spec = schema_of("Workflow")["properties"]["spec"]["properties"]
    assert spec["edges"]["items"]["properties"]["from"] == {PRESERVE: True}
    state_field = spec["state"]["additionalProperties"]["properties"]
    assert state_field["default"] == {PRESERVE: True}
    assert state_field["items"][PRESERVE] is True
    assert spec["models"]["additionalProperties"]["properties"]["responses"]["items"] == {
        PRESERVE: True
    }
    pool = schema_of("AgentPool")["properties"]["spec"]["properties"]
    assert pool["resources"] == {"type": "object", PRESERVE: True}
    assert pool["env"]["items"]["properties"]["valueFrom"][PRESERVE] is True


def test_durations_are_patterned_strings_with_string_defaults() -> None:
    retry = schema_of("Workflow")["properties"]["spec"]["properties"]["nodes"]["items"][
        "properties"
    ]["retry"]["properties"]
    assert retry["initialDelay"]["type"] == "string"
    assert retry["initialDelay"]["default"] == "1s"
    assert retry["maxDelay"]["default"] == "30s"
    assert re.fullmatch(retry["initialDelay"]["pattern"], "1m30s")


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


def cel_failures(schema: dict[str, Any], data: Any, path: str = "") -> list[tuple[str, str]]:
    """Evaluate every x-kubernetes-validations rule where ``data`` has a value, like the apiserver."""
    failures = []
    for rule in schema.get(VALIDATIONS, []):
        if cel.compile(rule["rule"]).execute({"self": data}) is not True:
            failures.append((path + rule.get("fieldPath", ""), rule["message"]))
    if isinstance(data, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in data and data[name] is not None:
                failures += cel_failures(sub, data[name], f"{path}.{name}" if path else name)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in data.items():
                failures += cel_failures(extra, value, f"{path}[{key}]")
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(data):
            failures += cel_failures(schema["items"], item, f"{path}[{i}]")
    return failures


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("**/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") in ("Workflow", "AgentPool"):
                docs.append((str(path.relative_to(REPO)), doc))
    return docs


EXAMPLE_DOCS = example_documents()


@pytest.mark.skipif(not EXAMPLE_DOCS, reason="no examples yet")
@pytest.mark.parametrize(("source", "doc"), EXAMPLE_DOCS, ids=[s for s, _ in EXAMPLE_DOCS])
def test_example_passes_the_cel_rules(source: str, doc: dict[str, Any]) -> None:
    assert cel_failures(schema_of(doc["kind"]), doc) == []


def to_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI v3.0 schema as draft-4 JSON Schema; unknown fields are errors (strict apply)."""
    out = {k: v for k, v in schema.items() if not k.startswith("x-") and k != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in out:
        out["properties"] = {k: to_json_schema(v) for k, v in out["properties"].items()}
        if not schema.get(PRESERVE):
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(out["additionalProperties"])
    if isinstance(out.get("items"), dict):
        out["items"] = to_json_schema(out["items"])
    return out


@pytest.mark.skipif(not EXAMPLE_DOCS, reason="no examples yet")
@pytest.mark.parametrize(("source", "doc"), EXAMPLE_DOCS, ids=[s for s, _ in EXAMPLE_DOCS])
def test_example_validates_against_the_openapi_schema(source: str, doc: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="add jsonschema to the dev extra")
    validator = jsonschema.Draft4Validator(to_json_schema(schema_of(doc["kind"])))
    errors = [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]
    assert errors == []


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
    ],
)
def test_agentpool_cel_rule_rejects(path: str, value: Any, where: str, phrase: str) -> None:
    assert cel_failures(schema_of("AgentPool"), POOL) == []
    failures = cel_failures(schema_of("AgentPool"), _set(POOL, path, value))
    assert any(p == where and phrase in m for p, m in failures), failures
