"""What scales an autoscaled pool: an HPA on CPU, or on the queue a KEDA ScaledObject (down to
zero) or, without KEDA, an HPA on an External metric.

Each targets the pool's workload (as the CPU HPA always has), so the operator never writes the
workload's replica count while ``autoscaling`` is set and never fights the scaler.

On the queue the figure is the gateway's (``GET /v1/namespaces/NS/queue``): runs waiting for an
agent of the pool's capabilities plus runs executing that use them. KEDA's ``metrics-api`` scaler
reads its ``total`` with a bearer token from a ClusterTriggerAuthentication (operator setting
``queue_authentication``) whose account may only ``get`` ``agentpools/queue``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.spec.errors import Problem, SpecError
from agents_operator.settings import OperatorSettings

Obj = dict[str, Any]

KEDA_API_VERSION = "keda.sh/v1alpha1"
#: The gateway's gauge an external metrics adapter (prometheus-adapter) serves to the fallback HPA:
#: label ``state`` (queued, running) and ``capability``, in the HPA's namespace.
EXTERNAL_METRIC = "configurable_agents_capability_runs"
#: The figure KEDA reads from the gateway's answer (``valueLocation``).
VALUE_LOCATION = "total"


def queue_url(pool: AgentPool, settings: OperatorSettings) -> str:
    """Where KEDA asks for the pool's figure: its namespace, each of its capabilities."""
    query = urlencode([("capability", c) for c in pool.spec.capabilities])
    return f"{settings.queue_gateway_url}/v1/namespaces/{pool.metadata.namespace}/queue?{query}"


def _target(pool: AgentPool) -> Obj:
    return {"apiVersion": "apps/v1", "kind": pool.spec.workload, "name": pool.metadata.name}


def cpu_hpa(pool: AgentPool, meta: Obj) -> Obj:
    scaling = pool.spec.autoscaling
    assert scaling is not None
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": _target(pool),
            "minReplicas": max(scaling.min_replicas, 1),
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": scaling.target_cpu_utilization_percentage,
                        },
                    },
                }
            ],
        },
    }


def queue_hpa(pool: AgentPool, meta: Obj) -> Obj:
    """The fallback without KEDA: an HPA on the External metric, which an adapter must serve.
    An HPA cannot scale to zero (that needs the alpha HPAScaleToZero feature gate and something
    to wake the pool), so ``minReplicas: 0`` becomes 1 here: the pool never sleeps."""
    scaling = pool.spec.autoscaling
    assert scaling is not None
    selector = {
        "matchExpressions": [
            {"key": "capability", "operator": "In", "values": list(pool.spec.capabilities)}
        ]
    }
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            **meta,
            "annotations": {
                "configurable-agents.io/scaling": (
                    "queue metric without KEDA: at least 1 replica (HPA cannot scale to zero)"
                )
            },
        },
        "spec": {
            "scaleTargetRef": _target(pool),
            "minReplicas": max(scaling.min_replicas, 1),
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "External",
                    "external": {
                        "metric": {"name": EXTERNAL_METRIC, "selector": selector},
                        "target": {
                            "type": "AverageValue",
                            "averageValue": str(scaling.queue_scaling.target_per_replica),
                        },
                    },
                }
            ],
        },
    }


def scaled_object(pool: AgentPool, meta: Obj, settings: OperatorSettings) -> Obj:
    """KEDA activates the pool (0 -> 1) when the figure is above zero, its HPA scales 1 -> N on
    ``total / targetPerReplica``, and after ``cooldownSeconds`` at zero KEDA takes it to
    ``minReplicas``. SpecError (naming ``autoscaling.metric``) when the operator lacks the
    gateway's URL: the pool is then Stalled, not scaled on nothing."""
    scaling = pool.spec.autoscaling
    assert scaling is not None
    if not settings.queue_gateway_url:
        message = (
            "queue: the operator has no gateway URL for KEDA to read the queue from "
            "(setting CONFIGURABLE_AGENTS_OPERATOR_QUEUE_GATEWAY_URL)"
        )
        raise SpecError([Problem("spec.autoscaling.metric", message)])
    queue = scaling.queue_scaling
    trigger: Obj = {
        "type": "metrics-api",
        "name": "queue",
        "metricType": "AverageValue",
        "metadata": {
            "url": queue_url(pool, settings),
            "format": "json",
            "valueLocation": VALUE_LOCATION,
            "targetValue": str(queue.target_per_replica),
            "activationTargetValue": "0",
        },
    }
    if settings.queue_authentication:
        trigger["metadata"]["authMode"] = "bearer"
        trigger["authenticationRef"] = {
            "name": settings.queue_authentication,
            "kind": "ClusterTriggerAuthentication",
        }
    return {
        "apiVersion": KEDA_API_VERSION,
        "kind": "ScaledObject",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": _target(pool),
            "minReplicaCount": scaling.min_replicas,
            "maxReplicaCount": scaling.max_replicas,
            "cooldownPeriod": queue.cooldown_seconds,
            "pollingInterval": settings.queue_polling_seconds,
            "triggers": [trigger],
        },
    }


def scaler(pool: AgentPool, meta: Obj, settings: OperatorSettings, *, keda: bool) -> Obj | None:
    """The object that owns the pool's replica count; None without ``autoscaling``."""
    scaling = pool.spec.autoscaling
    if scaling is None:
        return None
    if scaling.metric == "cpu":
        return cpu_hpa(pool, meta)
    if keda:
        return scaled_object(pool, meta, settings)
    return queue_hpa(pool, meta)
