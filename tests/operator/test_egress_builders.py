"""Agent egress from the pool's spec and the operator's settings: the ``POOL-egress`` policy."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from agents_operator.builders import build_children
from agents_operator.builders.children import optional_children
from agents_operator.builders.egress import api_server_rule
from agents_operator.settings import OperatorSettings
from pydantic import ValidationError

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool

CLUSTER = ToolPolicy.cluster()
SELECTOR = {"matchLabels": {"configurable-agents.io/pool": "researchers"}}
KUBE_DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
}
API_SERVER = {
    "to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}],
    "ports": [{"port": 6443, "protocol": "TCP"}],
}
GATEWAY = "system:serviceaccount:ca-system:ca-gateway"


def pool(egress: list[dict[str, Any]] | None = None) -> AgentPool:
    spec: dict[str, Any] = {"capabilities": ["llm"]}
    if egress is not None:
        spec["egress"] = egress
    return AgentPool.model_validate(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "researchers", "namespace": "demo"},
            "spec": spec,
        }
    )


def egress_policy(children: list[dict[str, Any]]) -> dict[str, Any] | None:
    found = [c for c in children if c["metadata"]["name"] == "researchers-egress"]
    assert len(found) <= 1
    return found[0] if found else None


def build(
    p: AgentPool, api_server: dict[str, Any] | None = None, **settings: Any
) -> dict[str, Any]:
    found = egress_policy(build_children(p, OperatorSettings(**settings), CLUSTER, api_server))
    assert found is not None
    return found


def test_by_default_a_pool_may_reach_only_dns() -> None:
    policy = build(pool())
    assert policy["apiVersion"] == "networking.k8s.io/v1" and policy["kind"] == "NetworkPolicy"
    assert policy["metadata"]["namespace"] == "demo"
    assert policy["metadata"]["labels"]["configurable-agents.io/pool"] == "researchers"
    assert policy["spec"] == {
        "podSelector": SELECTOR,
        "policyTypes": ["Egress"],
        "egress": [KUBE_DNS],
    }


def test_declared_egress_becomes_ip_block_rules() -> None:
    policy = build(
        pool(
            [
                {"cidr": "203.0.113.0/24", "ports": [{"port": 443}]},
                {
                    "cidr": "2001:DB8::/32",
                    "except": ["2001:db8:1::/48"],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 5432}],
                },
                {"cidr": "198.51.100.0/24"},
            ]
        )
    )
    assert policy["spec"]["egress"] == [
        KUBE_DNS,
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"port": 443, "protocol": "TCP"}],
        },
        {
            "to": [{"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 5432, "protocol": "TCP"}],
        },
        {"to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}]},  # no ports: every port
    ]


def test_platform_additions_come_before_the_pools_own() -> None:
    collector = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "otel"}}}],
        "ports": [{"port": 4317, "protocol": "TCP"}],
    }
    policy = build(
        pool([{"cidr": "203.0.113.0/24", "ports": [{"port": 443}]}]),
        API_SERVER,
        task_callers=[GATEWAY],
        egress_allow="10.20.0.0/16:3128,192.0.2.0/24",
        egress_rules=[collector],
    )
    assert policy["spec"]["egress"] == [
        KUBE_DNS,
        API_SERVER,
        {
            "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
            "ports": [{"port": 3128, "protocol": "TCP"}],
        },
        {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]},
        collector,
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"port": 443, "protocol": "TCP"}],
        },
    ]


def test_the_api_server_only_for_agents_that_verify_task_tokens() -> None:
    assert API_SERVER not in build(pool(), API_SERVER)["spec"]["egress"]
    assert API_SERVER in build(pool(), API_SERVER, task_callers=[GATEWAY])["spec"]["egress"]


def test_other_dns_peers_or_any_port_53() -> None:
    node_local = [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    [dns] = build(pool(), egress_dns=node_local)["spec"]["egress"]
    assert dns == {"to": node_local, "ports": KUBE_DNS["ports"]}
    [dns] = build(pool(), egress_dns=[])["spec"]["egress"]
    assert dns == {"ports": KUBE_DNS["ports"]}  # to anywhere


def test_not_enforced_no_policy_and_it_is_pruned() -> None:
    children = build_children(
        pool([{"cidr": "203.0.113.0/24"}]), OperatorSettings(egress_enforce=False), CLUSTER
    )
    assert egress_policy(children) is None
    assert ("networking.k8s.io/v1", "NetworkPolicy", "researchers-egress") in optional_children(
        "researchers"
    )


def test_applied_before_the_workload() -> None:
    children = build_children(pool(), OperatorSettings(), CLUSTER)
    names = [(c["kind"], c["metadata"]["name"]) for c in children]
    assert names.index(("NetworkPolicy", "researchers-egress")) < names.index(
        ("Deployment", "researchers")
    )


def test_api_server_rule_from_the_kubernetes_service() -> None:
    slices = [
        {
            "endpoints": [{"addresses": ["172.18.0.2"]}, {"addresses": ["172.18.0.3"]}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        },
        {"endpoints": [{"addresses": ["fd00::2"]}], "ports": [{"port": 6443}]},
    ]
    service = {
        "spec": {
            "clusterIP": "10.96.0.1",
            "clusterIPs": ["10.96.0.1"],
            "ports": [{"port": 443, "protocol": "TCP"}],
        }
    }
    assert api_server_rule(slices, service) == {
        "to": [
            {"ipBlock": {"cidr": "172.18.0.2/32"}},
            {"ipBlock": {"cidr": "172.18.0.3/32"}},
            {"ipBlock": {"cidr": "fd00::2/128"}},
            {"ipBlock": {"cidr": "10.96.0.1/32"}},
        ],
        "ports": [{"port": 6443, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}],
    }
    assert api_server_rule([], None) is None
    assert api_server_rule([], {"spec": {"clusterIP": "None", "ports": [{"port": 443}]}}) is None


@pytest.mark.parametrize(
    ("value", "where", "phrase"),
    [
        ("10.0.0.5/8:443", ("egress_allow", 0, "cidr"), "host bits set: write 10.0.0.0/8"),
        ("10.0.0.0/8:70000", ("egress_allow", 0, "ports", 0, "port"), "65535"),
        ("10.0.0.0/8:53/ICMP", ("egress_allow", 0, "ports", 0, "protocol"), "'TCP', 'UDP'"),
        ("example.com:443", ("egress_allow",), "expected CIDR[:PORT[/PROTOCOL]]"),
        ("[10.0.0.0/8", ("egress_allow",), "Expecting"),
        (
            '[{"cidr": "10.0.0.0/8", "ports": [{"port": 0}]}]',
            ("egress_allow", 0, "ports", 0, "port"),
            "greater",
        ),
    ],
)
def test_bad_platform_allow_names_the_entry(
    value: str, where: tuple[Any, ...], phrase: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        OperatorSettings(egress_allow=value)
    [error] = caught.value.errors()
    assert error["loc"] == where and phrase in error["msg"], error


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [("EGRESS_DNS", "[{oops", "Expecting property name"), ("EGRESS_RULES", "{}", "valid list")],
)
def test_bad_json_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, phrase: str
) -> None:
    monkeypatch.setenv(f"CONFIGURABLE_AGENTS_OPERATOR_{name}", value)
    with pytest.raises(ValidationError) as caught:
        OperatorSettings()
    [error] = caught.value.errors()
    assert error["loc"] == (name.lower(),) and phrase in error["msg"], error


def test_platform_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's forms: EGRESS_ALLOW short or JSON, EGRESS_DNS and EGRESS_RULES as JSON."""
    prefix = "CONFIGURABLE_AGENTS_OPERATOR_"
    monkeypatch.setenv(f"{prefix}EGRESS_ALLOW", " 10.0.0.0/8:4317 , ,2001:db8::/32:53/udp,")
    monkeypatch.setenv(f"{prefix}EGRESS_ENFORCE", "false")
    monkeypatch.setenv(f"{prefix}EGRESS_DNS", '[{"ipBlock": {"cidr": "169.254.20.10/32"}}]')
    monkeypatch.setenv(f"{prefix}EGRESS_RULES", '[{"ports": [{"port": 4317}]}]')
    found = OperatorSettings()
    assert [(r.cidr, [(p.port, p.protocol) for p in r.ports]) for r in found.egress_allow] == [
        ("10.0.0.0/8", [(4317, "TCP")]),
        ("2001:db8::/32", [(53, "UDP")]),
    ]
    assert found.egress_enforce is False
    assert found.egress_dns == [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    assert found.egress_rules == [{"ports": [{"port": 4317}]}]
    monkeypatch.setenv(
        f"{prefix}EGRESS_ALLOW",
        '["192.0.2.0/24", {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}]',
    )
    assert [(r.cidr, r.except_) for r in OperatorSettings().egress_allow] == [
        ("192.0.2.0/24", []),
        ("10.0.0.0/8", ["10.1.0.0/16"]),
    ]


def test_a_bad_setting_stops_the_operator_with_one_line(tmp_path: Any) -> None:
    """Before it looks for a cluster: exit status 2 and the setting named, no traceback."""
    env = {
        **os.environ,
        "CONFIGURABLE_AGENTS_OPERATOR_EGRESS_ALLOW": "10.0.0.0/8:443,10.1.2.3/16:5432",
        "KUBECONFIG": str(tmp_path / "none"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "operator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: egress_allow.1.cidr: '10.1.2.3/16' has host bits set: write 10.1.0.0/16"
    ]
    assert "Traceback" not in done.stderr
