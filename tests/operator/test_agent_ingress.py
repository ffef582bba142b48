"""Agent ingress on the real control plane: the operator, configured as the chart configures it,
gives each pool a NetworkPolicy open to the gateway only (put back when deleted or edited, pruned
when the setting goes away) and agent pods that verify task tokens, admitted as restricted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.operator.conftest import OperatorProcess, eventually, restart_with
from tests.operator.test_agentpool import get, pool_yaml, wait_ready

pytestmark = pytest.mark.cluster

PREFIX = "CONFIGURABLE_AGENTS_OPERATOR_"
GATEWAY_NS = "configurable-agents-system"
GATEWAY = f"system:serviceaccount:{GATEWAY_NS}:configurable-agents-gateway"
GATEWAY_LABELS = {"app.kubernetes.io/component": "gateway", "app.kubernetes.io/instance": "ca"}
PROMETHEUS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
#: What the chart's values give the operator (helm/configurable-agents/templates/_helpers.tpl).
SECURED = {
    "TASK_CALLERS": GATEWAY,
    "TASK_ISSUER": "https://kubernetes.default.svc.cluster.local",
    "GATEWAY_NAMESPACE": GATEWAY_NS,
    "GATEWAY_POD_LABELS": json.dumps(GATEWAY_LABELS),
    "AGENTS_FROM": json.dumps([PROMETHEUS]),
}

Configure = Callable[[dict[str, str]], None]


@pytest.fixture(scope="module")
def configure(operator: OperatorProcess) -> Iterator[Configure]:
    """Restart the session's operator with these settings; the defaults again afterwards."""

    def restart(settings: dict[str, str]) -> None:
        restart_with(operator, PREFIX, settings)

    restart(SECURED)
    yield restart
    restart({})


@pytest.fixture
def restricted(kubectl: Any, namespace: str) -> str:
    """The test's namespace, admitting only pods that meet the restricted Pod Security profile."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    return namespace


def policy(kubectl: Any, namespace: str) -> dict[str, Any]:
    return get(kubectl, namespace, "networkpolicy", "pool")


def gateway_only(found: dict[str, Any]) -> bool:
    [rule] = found["spec"]["ingress"]
    return bool(
        rule["from"]
        == [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": GATEWAY_NS}},
                "podSelector": {"matchLabels": GATEWAY_LABELS},
            },
            PROMETHEUS,
        ]
        and rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    )


def test_pool_is_open_to_the_gateway_only_and_its_agents_verify_tasks(
    configure: Configure, operator: OperatorProcess, kubectl: Any, restricted: str
) -> None:
    # what the operator logs from here on (earlier tests' namespaces may be terminating)
    logged_before = len(operator.log_text())
    namespace = restricted
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    uid = get(kubectl, namespace, "agentpool", "pool")["metadata"]["uid"]

    found = policy(kubectl, namespace)
    [ref] = found["metadata"]["ownerReferences"]
    assert ref["uid"] == uid and ref["controller"] is True
    assert found["spec"]["podSelector"] == {"matchLabels": {"configurable-agents.io/pool": "pool"}}
    assert found["spec"]["policyTypes"] == ["Ingress"]
    assert gateway_only(found)

    # The pods (admitted under the restricted profile: the pool is Ready) verify task tokens.
    pods = get(kubectl, namespace, "pods", "-l", "configurable-agents.io/pool=pool")["items"]
    assert len(pods) == 2
    spec = pods[0]["spec"]
    env = {e["name"]: e.get("value") for e in spec["containers"][0]["env"]}
    assert env["CONFIGURABLE_AGENTS_TASK_AUTH"] == "kubernetes"
    assert env["CONFIGURABLE_AGENTS_TASK_CALLERS"] == GATEWAY
    assert env["CONFIGURABLE_AGENTS_TASK_ISSUER"] == SECURED["TASK_ISSUER"]
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "api-access")
    assert mount["readOnly"] is True
    assert env["CONFIGURABLE_AGENTS_TASK_CA_FILE"] == f"{mount['mountPath']}/ca.crt"
    assert env["CONFIGURABLE_AGENTS_TASK_DISCOVERY_TOKEN_FILE"] == f"{mount['mountPath']}/token"
    volume = next(v for v in spec["volumes"] if v["name"] == "api-access")
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["expirationSeconds"] == 3600
    assert "audience" not in sources[0]["serviceAccountToken"]
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    # Still none of the ServiceAccount's own token mounted by the API server.
    assert spec["automountServiceAccountToken"] is False
    assert not [v for v in spec["volumes"] if v["name"].startswith("kube-api-access")]
    # (other tests' namespaces being deleted meanwhile may log refusals of their own)
    mine = [
        line
        for line in operator.log_text()[logged_before:].lower().splitlines()
        if restricted in line
    ]
    assert not [line for line in mine if "forbidden" in line], mine


def test_a_deleted_or_loosened_policy_is_put_back(
    configure: Configure, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    before = policy(kubectl, namespace)["metadata"]["uid"]

    kubectl("delete", "networkpolicy", "pool", "-n", namespace)
    recreated = eventually(lambda: policy(kubectl, namespace))
    assert recreated["metadata"]["uid"] != before and gateway_only(recreated)

    # Opened to every pod of the cluster by hand: narrowed again.
    kubectl(
        "patch",
        "networkpolicy",
        "pool",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps(
            [
                {
                    "op": "replace",
                    "path": "/spec/ingress/0/from",
                    "value": [{"namespaceSelector": {}}],
                }
            ]
        ),
    )
    eventually(lambda: gateway_only(policy(kubectl, namespace)))


def test_without_the_settings_the_policy_and_env_go(
    configure: Configure, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    assert policy(kubectl, namespace)
    try:
        configure({})  # as the chart's operator with networkPolicy and taskAuth off

        def pruned() -> bool:
            gone = kubectl("get", "networkpolicy", "pool", "-n", namespace, check=False)
            template = get(kubectl, namespace, "deployment", "pool")["spec"]["template"]["spec"]
            names = {e["name"] for e in template["containers"][0]["env"]}
            return (
                gone.returncode != 0
                and "CONFIGURABLE_AGENTS_TASK_AUTH" not in names
                and [v["name"] for v in template["volumes"]] == ["tmp"]
            )

        eventually(pruned)
    finally:
        configure(SECURED)
