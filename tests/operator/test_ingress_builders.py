"""Agent ingress from the operator's settings: task-token env and volume, the pool's NetworkPolicy."""

from __future__ import annotations

from typing import Any

from agents_operator.builders import build_children
from agents_operator.builders.children import optional_children
from agents_operator.settings import OperatorSettings

from agent_runtime.agent.settings import AgentSettings
from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool

GATEWAY = "system:serviceaccount:ca-system:ca-gateway"
GATEWAY_LABELS = {"app.kubernetes.io/component": "gateway", "app.kubernetes.io/instance": "ca"}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
MOUNT = "/var/run/secrets/configurable-agents/api"
CLUSTER = ToolPolicy.cluster()


def pool(workload: str = "Deployment", env: list[dict[str, Any]] | None = None) -> AgentPool:
    return AgentPool.model_validate(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "researchers", "namespace": "demo"},
            "spec": {"capabilities": ["llm"], "workload": workload, "env": env or []},
        }
    )


def settings(**values: Any) -> OperatorSettings:
    """Without the egress policy (tests/operator/test_egress_builders.py), so the one
    NetworkPolicy here is the ingress one."""
    return OperatorSettings(**{"egress_enforce": False, **values})


def secured() -> OperatorSettings:
    return settings(
        task_callers=[GATEWAY],
        task_issuer="https://oidc.eks.example.com/id/ABC",
        gateway_namespace="ca-system",
        gateway_pod_labels=GATEWAY_LABELS,
        agents_from=[PROMETHEUS],
    )


def by_kind(children: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["kind"]: c for c in children}


def pod_spec(children: list[dict[str, Any]], workload: str = "Deployment") -> dict[str, Any]:
    spec: dict[str, Any] = by_kind(children)[workload]["spec"]["template"]["spec"]
    return spec


def test_task_callers_give_agents_the_verifying_env_and_a_projected_volume() -> None:
    spec = pod_spec(build_children(pool(), secured(), CLUSTER))
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert {k: v for k, v in env.items() if k.startswith("CONFIGURABLE_AGENTS_TASK_")} == {
        "CONFIGURABLE_AGENTS_TASK_AUTH": "kubernetes",
        "CONFIGURABLE_AGENTS_TASK_ISSUER": "https://oidc.eks.example.com/id/ABC",
        "CONFIGURABLE_AGENTS_TASK_CALLERS": GATEWAY,
        "CONFIGURABLE_AGENTS_TASK_CA_FILE": f"{MOUNT}/ca.crt",
        "CONFIGURABLE_AGENTS_TASK_DISCOVERY_TOKEN_FILE": f"{MOUNT}/token",
    }
    # Still no token of the pod's own account; just the projected one, read-only.
    assert spec["automountServiceAccountToken"] is False
    assert {"name": "api-access", "mountPath": MOUNT, "readOnly": True} in container["volumeMounts"]
    volume = next(v for v in spec["volumes"] if v["name"] == "api-access")
    assert volume["projected"]["sources"] == [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
    ]
    # The restricted profile allows projected volumes; everything else stays as it was.
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_the_env_is_what_the_agent_reads() -> None:
    """The agent's own settings accept the env as the operator writes it."""
    container = pod_spec(build_children(pool(), secured(), CLUSTER))["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    agent = AgentSettings(
        **{k.removeprefix("CONFIGURABLE_AGENTS_").lower(): v for k, v in env.items() if "TASK" in k}
    )
    assert agent.task_auth == "kubernetes" and agent.task_callers == [GATEWAY]
    assert agent.task_ca_file == f"{MOUNT}/ca.crt"
    assert agent.task_discovery_token_file == f"{MOUNT}/token"


def test_a_pools_own_env_cannot_turn_task_auth_off() -> None:
    env = [
        {"name": "CONFIGURABLE_AGENTS_TASK_AUTH", "value": "none"},
        {"name": "POOL_SETTING", "value": "kept"},
    ]
    container = pod_spec(build_children(pool(env=env), secured(), CLUSTER))["containers"][0]
    names = [e["name"] for e in container["env"]]
    assert names.count("CONFIGURABLE_AGENTS_TASK_AUTH") == 1, "a name twice fails the apply"
    assert {"name": "CONFIGURABLE_AGENTS_TASK_AUTH", "value": "kubernetes"} in container["env"]
    assert {"name": "POOL_SETTING", "value": "kept"} in container["env"]


def test_the_pool_owns_a_network_policy_open_to_the_gateway_only() -> None:
    children = build_children(pool(), secured(), CLUSTER)
    policy = by_kind(children)["NetworkPolicy"]
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["name"] == "researchers"
    assert policy["metadata"]["namespace"] == "demo"
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"configurable-agents.io/pool": "researchers"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "ca-system"}
                        },
                        "podSelector": {"matchLabels": GATEWAY_LABELS},
                    },
                    PROMETHEUS,
                ],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
    }
    # Applied before the workload, so no agent pod is ever open to more.
    kinds = [c["kind"] for c in children]
    assert kinds.index("NetworkPolicy") < kinds.index("Deployment")


def test_without_gateway_labels_every_pod_of_the_gateway_namespace_may_call() -> None:
    policy = by_kind(build_children(pool(), settings(gateway_namespace="ca-system"), CLUSTER))
    [peer] = policy["NetworkPolicy"]["spec"]["ingress"][0]["from"]
    assert peer["podSelector"] == {}  # as the API server returns it: no false drift


def test_empty_settings_add_nothing() -> None:
    for workload in ("Deployment", "StatefulSet"):
        children = build_children(pool(workload), settings(), CLUSTER)
        assert "NetworkPolicy" not in by_kind(children)
        spec = pod_spec(children, workload)
        assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]
        container = spec["containers"][0]
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert not any(e["name"].startswith("CONFIGURABLE_AGENTS_TASK_") for e in container["env"])


def test_a_policy_no_longer_wanted_is_pruned() -> None:
    assert ("networking.k8s.io/v1", "NetworkPolicy", "researchers") in optional_children(
        "researchers"
    )


def test_settings_from_the_environment(monkeypatch: Any) -> None:
    """The chart's and kustomize's forms: comma-separated callers, JSON labels and peers."""
    prefix = "CONFIGURABLE_AGENTS_OPERATOR_"
    monkeypatch.setenv(f"{prefix}TASK_CALLERS", f"{GATEWAY}, system:serviceaccount:x:y")
    monkeypatch.setenv(f"{prefix}GATEWAY_NAMESPACE", "ca-system")
    monkeypatch.setenv(f"{prefix}GATEWAY_POD_LABELS", '{"app.kubernetes.io/component": "gateway"}')
    monkeypatch.setenv(f"{prefix}AGENTS_FROM", '[{"ipBlock": {"cidr": "10.0.0.0/8"}}]')
    read = OperatorSettings()
    assert read.task_callers == [GATEWAY, "system:serviceaccount:x:y"]
    assert read.task_issuer == "https://kubernetes.default.svc.cluster.local"
    assert read.gateway_pod_labels == {"app.kubernetes.io/component": "gateway"}
    assert read.agents_from == [{"ipBlock": {"cidr": "10.0.0.0/8"}}]
