"""Reading the generated CRD schemas: structural checks and an apiserver-like CEL evaluator."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import cel

from agent_runtime.spec.crd import build_crds

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
