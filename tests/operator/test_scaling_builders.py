"""What owns an autoscaled pool's replicas: the CPU HPA, or on the queue a KEDA ScaledObject
or (without KEDA) an HPA on the External metric; and the spec rules of ``autoscaling``."""

from __future__ import annotations

from typing import Any

import pytest
from agents_operator.builders import build_children
from agents_operator.builders.children import optional_children
from agents_operator.settings import OperatorSettings
from pydantic import ValidationError

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.loader import problems_from

CLUSTER = ToolPolicy.cluster()
GATEWAY_URL = "http://ca-gateway.ca-system.svc:8080"


def pool(autoscaling: dict[str, Any] | None, workload: str = "Deployment") -> AgentPool:
    spec: dict[str, Any] = {"capabilities": ["llm", "web.search"], "workload": workload}
    if autoscaling is not None:
        spec["autoscaling"] = autoscaling
    return AgentPool.model_validate(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "researchers", "namespace": "demo"},
            "spec": spec,
        }
    )


def by_kind(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["kind"]: c for c in children}


def problems(autoscaling: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        pool(autoscaling)
    return [str(p) for p in problems_from(caught.value)]


QUEUE = {
    "metric": "queue",
    "minReplicas": 0,
    "maxReplicas": 5,
    "queue": {"targetPerReplica": 3, "cooldownSeconds": 45},
}


def test_cpu_is_the_default_and_keeps_its_hpa() -> None:
    children = by_kind(
        build_children(pool({"maxReplicas": 4}), OperatorSettings(), CLUSTER, keda=True)
    )
    hpa = children["HorizontalPodAutoscaler"]
    assert "ScaledObject" not in children
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "replicas" not in children["Deployment"]["spec"]  # the HPA owns the count


def test_queue_with_keda_is_a_scaled_object_on_the_workload() -> None:
    settings = OperatorSettings(queue_gateway_url=GATEWAY_URL + "/", queue_polling_seconds=5)
    children = by_kind(build_children(pool(QUEUE), settings, CLUSTER, keda=True))
    assert "HorizontalPodAutoscaler" not in children  # KEDA makes its own
    assert "replicas" not in children["Deployment"]["spec"]
    scaled = children["ScaledObject"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["metadata"]["name"] == "researchers"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "researchers",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (0, 5)
    assert (spec["cooldownPeriod"], spec["pollingInterval"]) == (45, 5)
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "metrics-api"
    assert trigger["metadata"] == {
        "url": f"{GATEWAY_URL}/v1/namespaces/demo/queue?capability=llm&capability=web.search",
        "format": "json",
        "valueLocation": "total",
        "targetValue": "3",
        "activationTargetValue": "0",
        "authMode": "bearer",
    }
    assert trigger["authenticationRef"] == {
        "name": "configurable-agents-queue-reader",
        "kind": "ClusterTriggerAuthentication",
    }


def test_queue_without_authentication_sends_no_token() -> None:
    settings = OperatorSettings(queue_gateway_url=GATEWAY_URL, queue_authentication="")
    scaled = by_kind(build_children(pool(QUEUE), settings, CLUSTER, keda=True))["ScaledObject"]
    (trigger,) = scaled["spec"]["triggers"]
    assert "authenticationRef" not in trigger
    assert "authMode" not in trigger["metadata"]


def test_queue_scaled_object_targets_a_statefulset() -> None:
    settings = OperatorSettings(queue_gateway_url=GATEWAY_URL)
    children = by_kind(build_children(pool(QUEUE, "StatefulSet"), settings, CLUSTER, keda=True))
    assert children["ScaledObject"]["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    assert "replicas" not in children["StatefulSet"]["spec"]


def test_queue_without_keda_is_an_hpa_on_the_external_metric_never_below_one() -> None:
    children = by_kind(build_children(pool(QUEUE), OperatorSettings(), CLUSTER, keda=False))
    assert "ScaledObject" not in children
    hpa = children["HorizontalPodAutoscaler"]
    assert hpa["spec"]["minReplicas"] == 1  # an HPA cannot scale to zero
    assert (
        "cannot scale to zero" in hpa["metadata"]["annotations"]["configurable-agents.io/scaling"]
    )
    (metric,) = hpa["spec"]["metrics"]
    assert metric == {
        "type": "External",
        "external": {
            "metric": {
                "name": "configurable_agents_capability_runs",
                "selector": {
                    "matchExpressions": [
                        {"key": "capability", "operator": "In", "values": ["llm", "web.search"]}
                    ]
                },
            },
            "target": {"type": "AverageValue", "averageValue": "3"},
        },
    }


def test_queue_with_keda_needs_the_gateway_url_naming_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        build_children(pool(QUEUE), OperatorSettings(), CLUSTER, keda=True)
    (problem,) = caught.value.problems
    assert problem.path == "spec.autoscaling.metric"
    assert "QUEUE_GATEWAY_URL" in problem.message


def test_queue_defaults() -> None:
    scaling = pool({"metric": "queue", "maxReplicas": 2}).spec.autoscaling
    assert scaling is not None
    assert scaling.min_replicas == 1
    assert (scaling.queue_scaling.target_per_replica, scaling.queue_scaling.cooldown_seconds) == (
        8,
        300,
    )


def test_scaled_objects_are_pruned_only_where_keda_is_served() -> None:
    assert ("keda.sh/v1alpha1", "ScaledObject", "p") in optional_children("p", keda=True)
    assert all(kind != "ScaledObject" for _, kind, _ in optional_children("p"))


@pytest.mark.parametrize(
    ("autoscaling", "expected"),
    [
        (
            {"minReplicas": 0, "maxReplicas": 3},
            "spec.autoscaling.minReplicas: 0 needs metric: queue",
        ),
        (
            {"metric": "cpu", "minReplicas": 0, "maxReplicas": 3},
            "spec.autoscaling.minReplicas: 0 needs metric: queue",
        ),
        ({"maxReplicas": 3, "queue": {}}, "spec.autoscaling.queue: only with metric: queue"),
        ({"metric": "memory", "maxReplicas": 3}, "spec.autoscaling.metric"),
        ({"metric": "queue", "minReplicas": -1, "maxReplicas": 3}, "spec.autoscaling.minReplicas"),
        (
            {"metric": "queue", "maxReplicas": 3, "queue": {"targetPerReplica": 0}},
            "spec.autoscaling.queue.targetPerReplica",
        ),
        (
            {"metric": "queue", "maxReplicas": 3, "queue": {"cooldownSeconds": -1}},
            "spec.autoscaling.queue.cooldownSeconds",
        ),
        (
            {"metric": "queue", "minReplicas": 4, "maxReplicas": 3},
            "spec.autoscaling.maxReplicas: must not be below minReplicas (4)",
        ),
    ],
)
def test_bad_autoscaling_is_refused_naming_the_field(
    autoscaling: dict[str, Any], expected: str
) -> None:
    assert any(p.startswith(expected) for p in problems(autoscaling)), problems(autoscaling)


def test_bad_gateway_url_setting_is_refused() -> None:
    with pytest.raises(ValidationError, match="queue_gateway_url"):
        OperatorSettings(queue_gateway_url="ca-gateway:8080")
