"""The gateway's OpenAPI document: named operations, links from a created run, error bodies.

Clients and the fuzz test (test_api_fuzz.py) rely on it; this checks its shape quickly, without
a server.
"""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.gateway import GatewaySettings, create_app
from tests.conftest import EXAMPLES

RUNS_API = {
    ("post", "/v1/workflows/{namespace}/{name}/runs"): "createRun",
    ("get", "/v1/runs"): "listRuns",
    ("get", "/v1/runs/{run_id}"): "getRun",
    ("get", "/v1/runs/{run_id}/events"): "streamRunEvents",
    ("post", "/v1/runs/{run_id}/resume"): "resumeRun",
    ("post", "/v1/runs/{run_id}/approve"): "approveRun",
    ("post", "/v1/runs/{run_id}/cancel"): "cancelRun",
    ("get", "/v1/workflows"): "listWorkflows",
    ("get", "/v1/budgets"): "listBudgets",
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(GatewaySettings(workflows=EXAMPLES)).openapi()


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op for methods in document["paths"].values() for op in methods.values()
    }


def test_runs_api_operations_are_named(document: dict[str, Any]) -> None:
    for (method, path), operation_id in RUNS_API.items():
        assert document["paths"][path][method]["operationId"] == operation_id


def test_a_created_run_links_to_its_operations(document: dict[str, Any]) -> None:
    operations = _operations(document)
    create = operations["createRun"]
    for status in ("200", "202"):
        links = create["responses"][status]["links"]
        targets = {link["operationId"] for link in links.values()}
        assert targets == {"getRun", "streamRunEvents", "resumeRun", "approveRun", "cancelRun"}
        for link in links.values():
            target = operations[link["operationId"]]
            names = {p["name"] for p in target["parameters"] if p["in"] == "path"}
            assert link["parameters"] == {"run_id": "$response.body#/id"}
            assert set(link["parameters"]) == names


def test_every_error_is_the_error_body(document: dict[str, Any]) -> None:
    """4xx and 5xx answers are documented as {"error": {...}}, not FastAPI's default 422 body."""
    errors = 0
    for operation in _operations(document).values():
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (status, operation)
                errors += 1
    assert errors > 30
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_documented_errors_of_the_run_operations(document: dict[str, Any]) -> None:
    operations = _operations(document)
    assert {"401", "403", "404", "409", "422", "429", "503"} <= set(
        operations["createRun"]["responses"]
    )
    assert "400" in operations["listRuns"]["responses"]  # a cursor no listing gave
    for name in ("resumeRun", "approveRun", "cancelRun"):
        assert {"403", "404", "409"} <= set(operations[name]["responses"])
    events = operations["streamRunEvents"]["responses"]["200"]["content"]
    assert list(events) == ["text/event-stream"]
