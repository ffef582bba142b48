"""AgentPool validation: the fields the operator builds workloads from."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agent_runtime.spec import AgentPool, SpecError, parse_resource

POOL: dict[str, Any] = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "AgentPool",
    "metadata": {"name": "researchers", "namespace": "demo"},
    "spec": {
        "capabilities": ["web-research", "summarize"],
        "workload": "Deployment",
        "replicas": 2,
        "autoscaling": {"minReplicas": 1, "maxReplicas": 10, "targetCPUUtilizationPercentage": 70},
        "maxConcurrentTasks": 8,
        "env": [
            {
                "name": "OPENAI_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": "llm", "key": "openai"}},
            },
            {"name": "LOG_LEVEL", "value": "info"},
        ],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "podTemplate": {
            "labels": {"team": "research"},
            "nodeSelector": {"pool": "agents"},
            "tolerations": [{"key": "agents", "operator": "Exists"}],
            "serviceAccountName": "researchers",
        },
    },
}


def variant(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(POOL)
    doc["spec"].update(spec)
    return doc


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as caught:
        parse_resource(doc)
    return [(p.path, p.message) for p in caught.value.problems]


def test_valid_pool() -> None:
    pool = parse_resource(POOL)
    assert isinstance(pool, AgentPool)
    assert pool.spec.capabilities == ["web-research", "summarize"]
    assert pool.spec.autoscaling is not None and pool.spec.autoscaling.max_replicas == 10
    assert pool.spec.env[0].valueFrom == {"secretKeyRef": {"name": "llm", "key": "openai"}}
    assert pool.spec.pod_template.service_account_name == "researchers"


def test_defaults() -> None:
    pool = parse_resource(
        {"kind": "AgentPool", "metadata": {"name": "p"}, "spec": {"capabilities": ["llm"]}}
    )
    assert isinstance(pool, AgentPool)
    assert (pool.spec.workload, pool.spec.replicas, pool.spec.max_concurrent_tasks) == (
        "Deployment",
        1,
        8,
    )
    assert pool.spec.autoscaling is None and pool.spec.image == ""


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "github_token", "DB_PASSWORD", "MY_SECRET"])
def test_literal_secret_env_var_is_rejected(name: str) -> None:
    doc = variant(env=[{"name": name, "value": "sk-123"}])
    [(path, message)] = problems(doc)
    assert path == "spec.env[0].value"
    assert f"{name} looks like a credential" in message
    assert "valueFrom.secretKeyRef" in message


def test_empty_value_for_a_secret_name_is_allowed() -> None:
    assert isinstance(parse_resource(variant(env=[{"name": "API_KEY", "value": ""}])), AgentPool)


def test_autoscaling_min_above_max() -> None:
    doc = variant(autoscaling={"minReplicas": 5, "maxReplicas": 2})
    assert problems(doc) == [("spec.autoscaling.maxReplicas", "must not be below minReplicas (5)")]


@pytest.mark.parametrize(
    ("spec", "path", "phrase"),
    [
        ({"capabilities": ["Web Research"]}, "spec.capabilities[0]", "String should match pattern"),
        (
            {"capabilities": ["llm", "llm"]},
            "spec.capabilities",
            "each capability may be listed once",
        ),
        ({"capabilities": []}, "spec.capabilities", "at least 1 item"),
        (
            {"workload": "DaemonSet"},
            "spec.workload",
            "Input should be 'Deployment' or 'StatefulSet'",
        ),
        ({"replicas": -1}, "spec.replicas", "greater than or equal to 0"),
        ({"maxConcurrentTasks": 0}, "spec.maxConcurrentTasks", "greater than or equal to 1"),
        (
            {"autoscaling": {"minReplicas": 1}},
            "spec.autoscaling.maxReplicas",
            "required field is missing",
        ),
        (
            {"autoscaling": {"maxReplicas": 3, "targetCPUUtilizationPercentage": 150}},
            "spec.autoscaling.targetCPUUtilizationPercentage",
            "less than or equal to 100",
        ),
        ({"podTemplate": {"nodeselector": {}}}, "spec.podTemplate.nodeselector", "unknown field"),
        ({"env": [{"name": "A", "valuefrom": {}}]}, "spec.env[0].valuefrom", "unknown field"),
        ({"env": [{"value": "x"}]}, "spec.env[0].name", "required field is missing"),
    ],
)
def test_invalid_pool(spec: dict[str, Any], path: str, phrase: str) -> None:
    found = problems(variant(**spec))
    assert any(p == path and phrase in m for p, m in found), found


def test_missing_capabilities() -> None:
    doc = copy.deepcopy(POOL)
    del doc["spec"]["capabilities"]
    assert problems(doc) == [("spec.capabilities", "required field is missing")]


@pytest.mark.parametrize(
    "amount", ["100m", "2", "0.5", ".5", "1Gi", "512Mi", "1e3", "1.5E-2", "+1k", 2, 0.25]
)
def test_resource_quantities_kubernetes_takes(amount: Any) -> None:
    pool = parse_resource(variant(resources={"limits": {"cpu": amount}, "requests": {}}))
    assert isinstance(pool, AgentPool)


@pytest.mark.parametrize("amount", ["lots", "1Gb", "1 Gi", "", "1.2.3", "Mi", True, None])
def test_resource_quantities_kubernetes_refuses_name_the_field(amount: Any) -> None:
    """The CRD keeps resources free-form; the API server would refuse the workload (with a 500)."""
    found = problems(variant(resources={"requests": {"cpu": "1"}, "limits": {"cpu": amount}}))
    assert found == [
        (
            "spec.resources.limits.cpu",
            f"{amount!r} is not a Kubernetes quantity such as 500m, 2 or 1Gi",
        )
    ]


def test_resource_sections_must_be_maps() -> None:
    found = problems(variant(resources={"limits": ["1"]}))
    assert found == [("spec.resources.limits", "must be a map of resource names to quantities")]
