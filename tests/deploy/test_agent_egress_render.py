"""The chart's agents.egress values become the operator's egress settings (read back by the
operator's own settings class), and its RBAC lets the operator manage the pools' policies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from agents_operator.settings import OperatorSettings

from tests.deploy.tools import by_key, helm_template, permissions, render

PREFIX = "CONFIGURABLE_AGENTS_OPERATOR_"
OPERATOR = "ca-configurable-agents-operator"
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
COLLECTOR = {
    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "otel"}}}],
    "ports": [{"port": 4317, "protocol": "TCP"}],
}


def egress_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    operator = by_key(docs)[("Deployment", OPERATOR)]["spec"]["template"]["spec"]
    return {
        e["name"].removeprefix(PREFIX): e["value"]
        for e in operator["containers"][0]["env"]
        if e["name"].startswith(f"{PREFIX}EGRESS_")
    }


def settings(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    """What the operator makes of that environment."""
    for name, value in env.items():
        monkeypatch.setenv(PREFIX + name, value)
    return OperatorSettings()


def test_by_default_pools_reach_only_dns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = egress_env(render(tmp_path))
    assert env == {
        "EGRESS_ENFORCE": "true",
        "EGRESS_DNS": json.dumps([KUBE_DNS], separators=(",", ":")),
        "EGRESS_ALLOW": "[]",
        "EGRESS_RULES": "[]",
    }
    found = settings(env, monkeypatch)
    assert found.egress_enforce is True
    assert found.egress_dns == [KUBE_DNS]
    assert found.egress_allow == [] and found.egress_rules == []


def test_platform_additions_reach_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node_local = [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
    values = {
        "agents": {
            "egress": {
                "platformAllow": [
                    "10.0.0.0/8:4317",
                    "192.0.2.0/24",
                    {"cidr": "2001:db8::/32", "ports": [{"port": 53, "protocol": "UDP"}]},
                ],
                "platformRules": [COLLECTOR],
                "dns": node_local,
            }
        }
    }
    found = settings(egress_env(render(tmp_path, values)), monkeypatch)
    assert [(r.cidr, [(p.port, p.protocol) for p in r.ports]) for r in found.egress_allow] == [
        ("10.0.0.0/8", [(4317, "TCP")]),
        ("192.0.2.0/24", []),
        ("2001:db8::/32", [(53, "UDP")]),
    ]
    assert found.egress_rules == [COLLECTOR]
    assert found.egress_dns == node_local


@pytest.mark.parametrize(
    "values",
    [{"agents": {"egress": {"enforce": False}}}, {"networkPolicy": {"enabled": False}}],
)
def test_off_the_operator_writes_no_egress_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: dict[str, Any]
) -> None:
    env = egress_env(render(tmp_path, values))
    assert env == {"EGRESS_ENFORCE": "false"}
    assert settings(env, monkeypatch).egress_enforce is False


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ("example.com:443", "/agents/egress/platformAllow/0"),
        ("10.0.0.0/8:443/ICMP", "/agents/egress/platformAllow/0"),
        ({"cidr": "10.0.0.0/8", "ports": [{"port": 70000}]}, "/agents/egress/platformAllow/0"),
    ],
)
def test_schema_rejects_bad_platform_entries(tmp_path: Path, entry: Any, where: str) -> None:
    proc = helm_template(tmp_path, {"agents": {"egress": {"platformAllow": [entry]}}}, check=False)
    assert proc.returncode != 0
    assert where in proc.stderr, proc.stderr


@pytest.mark.parametrize(
    ("values", "scopes"),
    [
        ({}, ["*"]),
        ({"rbac": {"scope": "namespaces", "namespaces": ["demo", "team-b"]}}, ["demo", "team-b"]),
    ],
)
def test_the_operator_may_manage_network_policies(
    tmp_path: Path, values: dict[str, Any], scopes: list[str]
) -> None:
    granted = permissions(render(tmp_path, values), OPERATOR)
    for scope in scopes:
        for verb in ("get", "list", "watch", "create", "patch", "delete"):
            assert (scope, "networking.k8s.io", "networkpolicies", verb) in granted


def test_cluster_scope_lets_the_operator_find_the_api_server(tmp_path: Path) -> None:
    """Agents verifying task tokens need the API server: the operator reads where it is."""
    granted = permissions(render(tmp_path), OPERATOR)
    assert ("*", "discovery.k8s.io", "endpointslices", "list") in granted
    assert ("*", "", "services", "get") in granted


def test_namespaces_scope_lets_the_operator_find_the_api_server_in_default_only(
    tmp_path: Path,
) -> None:
    scoped = {"rbac": {"scope": "namespaces", "namespaces": ["demo"]}}
    granted = permissions(render(tmp_path, scoped), OPERATOR)
    assert ("default", "discovery.k8s.io", "endpointslices", "list") in granted
    assert ("default", "", "services", "get") in granted
    assert not [p for p in granted if p[0] == "default" and p[3] not in ("list", "get")]
    # Not needed without task tokens or without egress policies.
    for off in (
        {"agents": {"taskAuth": {"enabled": False}}},
        {"agents": {"egress": {"enforce": False}}},
    ):
        granted = permissions(render(tmp_path, {**scoped, **off}), OPERATOR)
        assert not [p for p in granted if p[0] == "default"]
