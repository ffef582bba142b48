"""Every example Workflow, AgentPool and Trigger passes the CRDs' CEL rules and OpenAPI schema."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.spec.crd_schema import (
    EXAMPLES,
    PRESERVE,
    REPO,
    cel_failures,
    schema_of,
)


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("**/*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") in ("Workflow", "AgentPool", "Trigger"):
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
