"""The children of an AgentPool: workload, Services, PDB, HPA, ServiceAccount, NetworkPolicies."""

from __future__ import annotations

from typing import Any

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.telemetry.secrets import SECRET_ENV
from agents_operator.builders.egress import agent_egress
from agents_operator.builders.ingress import agent_ingress, task_auth_env, task_auth_volumes
from agents_operator.builders.labels import pool_labels, pool_selector
from agents_operator.builders.policy import is_policy_setting, tool_policy_env
from agents_operator.builders.scaling import KEDA_API_VERSION, scaler
from agents_operator.settings import OperatorSettings

Obj = dict[str, Any]


def optional_children(pool: str, *, keda: bool = False) -> list[tuple[str, str, str]]:
    """(apiVersion, kind, name) of children a pool has only with some specs: the ones to prune
    (ScaledObjects only where the API server serves them)."""
    names = child_names(pool)
    scaled = [(KEDA_API_VERSION, "ScaledObject", names["scaledObject"])] if keda else []
    return [
        *scaled,
        ("apps/v1", "Deployment", names["workload"]),
        ("apps/v1", "StatefulSet", names["workload"]),
        ("v1", "Service", names["headless"]),
        ("autoscaling/v2", "HorizontalPodAutoscaler", names["hpa"]),
        ("networking.k8s.io/v1", "NetworkPolicy", names["networkPolicy"]),
        ("networking.k8s.io/v1", "NetworkPolicy", names["egressPolicy"]),
    ]


def child_names(pool: str) -> dict[str, str]:
    return {
        "workload": pool,
        "service": pool,
        "headless": f"{pool}-headless",
        "serviceAccount": f"{pool}-agent",
        "pdb": pool,
        "hpa": pool,
        "scaledObject": pool,
        "networkPolicy": pool,
        "egressPolicy": f"{pool}-egress",
    }


def _meta(name: str, pool: AgentPool, extra: dict[str, str] | None = None) -> Obj:
    labels = pool_labels(pool.metadata.name, pool.spec.capabilities)
    return {
        "name": name,
        "namespace": pool.metadata.namespace,
        "labels": {**labels, **(extra or {})},
    }


def _pod_template(pool: AgentPool, settings: OperatorSettings, policy: ToolPolicy) -> Obj:
    spec = pool.spec
    template = spec.pod_template
    names = child_names(pool.metadata.name)
    ours: list[Obj] = [
        {"name": "CONFIGURABLE_AGENTS_POOL", "value": pool.metadata.name},
        {"name": "CONFIGURABLE_AGENTS_CAPABILITIES", "value": ",".join(spec.capabilities)},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        *task_auth_env(settings),
        *tool_policy_env(policy),
    ]
    # The agent scrubs the values of variables from Secrets whatever their names: it learns
    # which they are here (names only; the values stay in the Secret).
    from_secrets = [e.name for e in spec.env if (e.valueFrom or {}).get("secretKeyRef")]
    if from_secrets:
        ours.append({"name": SECRET_ENV, "value": ",".join(from_secrets)})
    # What the operator sets wins: a pool cannot turn task authentication off or loosen the tool
    # policy (and a name twice would make the server-side apply fail).
    taken = {e["name"] for e in ours}
    env = [
        e.model_dump(exclude_none=True)
        for e in spec.env
        if e.name not in taken and not is_policy_setting(e.name)
    ] + ours
    auth_volumes, auth_mounts = task_auth_volumes(settings)
    probe = {
        "httpGet": {"path": "/readyz", "port": "http"},
        "periodSeconds": 5,
        "failureThreshold": 2,
    }
    container: Obj = {
        "name": "agent",
        "image": spec.image or settings.agent_image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": [
            "agent",
            "--port",
            str(settings.agent_port),
            "--max-concurrent-tasks",
            str(spec.max_concurrent_tasks),
        ],
        "ports": [{"name": "http", "containerPort": settings.agent_port, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": probe,
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": dict(spec.resources),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *auth_mounts],
    }
    labels = {**pool_labels(pool.metadata.name, spec.capabilities), **template.labels}
    pod: Obj = {
        "serviceAccountName": template.service_account_name or names["serviceAccount"],
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": 60,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}, *auth_volumes],
    }
    if template.node_selector:
        pod["nodeSelector"] = dict(template.node_selector)
    if template.tolerations:
        pod["tolerations"] = list(template.tolerations)
    if template.affinity:
        pod["affinity"] = dict(template.affinity)
    meta: Obj = {"labels": labels}
    if template.annotations:
        meta["annotations"] = dict(template.annotations)
    return {"metadata": meta, "spec": pod}


def _workload(pool: AgentPool, settings: OperatorSettings, policy: ToolPolicy) -> Obj:
    spec = pool.spec
    names = child_names(pool.metadata.name)
    body: Obj = {
        "selector": {"matchLabels": pool_selector(pool.metadata.name)},
        "template": _pod_template(pool, settings, policy),
    }
    if spec.autoscaling is None:
        body["replicas"] = spec.replicas  # with autoscaling the HPA alone owns the count
    if spec.workload == "StatefulSet":
        body["serviceName"] = names["headless"]
        body["podManagementPolicy"] = "Parallel"
    return {
        "apiVersion": "apps/v1",
        "kind": spec.workload,
        "metadata": _meta(names["workload"], pool),
        "spec": body,
    }


def _service(pool: AgentPool, settings: OperatorSettings, *, headless: bool) -> Obj:
    names = child_names(pool.metadata.name)
    body: Obj = {
        "selector": pool_selector(pool.metadata.name),
        "ports": [
            {"name": "http", "port": settings.agent_port, "targetPort": "http", "protocol": "TCP"}
        ],
    }
    if headless:
        body["clusterIP"] = "None"
        body["publishNotReadyAddresses"] = False
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(names["headless" if headless else "service"], pool),
        "spec": body,
    }


def _pdb(pool: AgentPool) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(child_names(pool.metadata.name)["pdb"], pool),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": pool_selector(pool.metadata.name)},
        },
    }


def _service_account(pool: AgentPool) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(child_names(pool.metadata.name)["serviceAccount"], pool),
        "automountServiceAccountToken": False,
    }


def _network_policy(pool: AgentPool, settings: OperatorSettings) -> Obj | None:
    spec = agent_ingress(pool.metadata.name, settings)
    if spec is None:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(child_names(pool.metadata.name)["networkPolicy"], pool),
        "spec": spec,
    }


def _egress_policy(
    pool: AgentPool, settings: OperatorSettings, api_server: Obj | None
) -> Obj | None:
    name = pool.metadata.name
    spec = agent_egress(name, list(pool.spec.egress), settings, api_server)
    if spec is None:
        return None
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(child_names(name)["egressPolicy"], pool),
        "spec": spec,
    }


def build_children(
    pool: AgentPool,
    settings: OperatorSettings,
    policy: ToolPolicy,
    api_server: Obj | None = None,
    *,
    keda: bool = False,
) -> list[Obj]:
    """Every object the pool should own right now (owner references are added by the caller),
    in the order to apply them: the NetworkPolicies before the workload, so that no agent pod is
    ever reachable by more than the gateway, nor reaches more than it may. Agents get ``policy``,
    the one the operator admits Workflows under; ``api_server`` is the egress rule to the API
    server (see builders.egress), which agents verifying task tokens need; ``keda``: whether the
    queue metric is served by a KEDA ScaledObject (else an HPA on an External metric)."""
    children = [_service_account(pool), _service(pool, settings, headless=False)]
    if pool.spec.workload == "StatefulSet":
        children.append(_service(pool, settings, headless=True))
    for network_policy in (
        _network_policy(pool, settings),
        _egress_policy(pool, settings, api_server),
    ):
        if network_policy is not None:
            children.append(network_policy)
    children += [_workload(pool, settings, policy), _pdb(pool)]
    names = child_names(pool.metadata.name)
    owner_of_replicas = scaler(pool, _meta(names["hpa"], pool), settings, keda=keda)
    if owner_of_replicas is not None:
        children.append(owner_of_replicas)
    return children
