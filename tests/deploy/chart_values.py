"""Chart values that switch everything on, and readers of what the chart renders from them."""

from __future__ import annotations

from typing import Any

from tests.deploy.tools import (
    by_key,
)

#: Everything optional switched on, namespaced RBAC, a user-managed store Secret.
FULL: dict[str, Any] = {
    "store": {"existingSecret": "my-store", "existingSecretKey": "dsn"},
    "postgres": {"enabled": False},
    "rbac": {"scope": "namespaces", "namespaces": ["demo", "team-b"]},
    "operator": {"replicas": 2, "peering": {"name": "agents"}},
    "gateway": {"autoscaling": {"enabled": True, "maxReplicas": 5}},
    "ui": {"enabled": True, "mode": "deployment", "secret": {"existingSecret": "my-ui"}},
    "ingress": {"enabled": True, "host": "api.example.com", "uiHost": "ui.example.com"},
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "public", "namespace": "gateway-system"}],
        "hostnames": ["api.example.com"],
        "uiHostnames": ["ui.example.com"],
    },
    "serviceMonitor": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "grafanaDashboard": {"enabled": True},
}


def kinds(docs: list[dict[str, Any]]) -> set[str]:
    return {d["kind"] for d in docs}


def deployment(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    spec: dict[str, Any] = by_key(docs)[("Deployment", f"ca-configurable-agents-{component}")][
        "spec"
    ]["template"]
    return spec


def agent_ingress_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The operator's settings for who may reach agent pods (task auth, NetworkPolicy)."""
    env = deployment(docs, "operator")["spec"]["containers"][0]["env"]
    names = ("TASK_", "GATEWAY_", "AGENTS_FROM")
    return {
        e["name"]: e["value"]
        for e in env
        if e["name"].removeprefix("CONFIGURABLE_AGENTS_OPERATOR_").startswith(names)
    }
