"""The chart tells the operator who may send tasks to agent pods (no cluster)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.deploy.chart_values import agent_ingress_env, deployment
from tests.deploy.tools import (
    render,
)


def test_agents_take_tasks_only_from_the_gateway_by_default(tmp_path: Path) -> None:
    docs = render(tmp_path)
    gateway = deployment(docs, "gateway")
    account = gateway["spec"]["serviceAccountName"]
    env = agent_ingress_env(docs)
    assert env == {
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_CALLERS": f"system:serviceaccount:ca-system:{account}",
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER": "https://kubernetes.default.svc.cluster.local",
        "CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_NAMESPACE": "ca-system",
        "CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS": env[
            "CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS"
        ],
        "CONFIGURABLE_AGENTS_OPERATOR_AGENTS_FROM": "[]",
    }
    # The labels the pools' NetworkPolicies admit are the gateway pods' own.
    labels = json.loads(env["CONFIGURABLE_AGENTS_OPERATOR_GATEWAY_POD_LABELS"])
    assert labels["app.kubernetes.io/component"] == "gateway"
    assert labels.items() <= gateway["metadata"]["labels"].items()
    # The gateway sends a projected token for the agents' audience, from a read-only mount.
    container = gateway["spec"]["containers"][0]
    token_file = next(
        e["value"] for e in container["env"] if e["name"] == "CONFIGURABLE_AGENTS_TASK_TOKEN_FILE"
    )
    mount = next(m for m in container["volumeMounts"] if token_file.startswith(m["mountPath"]))
    assert mount["readOnly"] is True
    volume = next(v for v in gateway["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": "configurable-agents-agent",
                "expirationSeconds": 3600,
                "path": token_file.removeprefix(mount["mountPath"] + "/"),
            }
        }
    ]


def test_agent_ingress_settings_follow_the_values(tmp_path: Path) -> None:
    prometheus = [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    issuer = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF"
    env = agent_ingress_env(
        render(
            tmp_path,
            {
                "agents": {"taskAuth": {"issuer": issuer}},
                "networkPolicy": {"agentsFrom": prometheus},
            },
        )
    )
    assert env["CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER"] == issuer
    assert json.loads(env["CONFIGURABLE_AGENTS_OPERATOR_AGENTS_FROM"]) == prometheus
    # Without NetworkPolicies, the operator writes none for the pools either.
    env = agent_ingress_env(render(tmp_path, {"networkPolicy": {"enabled": False}}))
    assert set(env) == {
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_CALLERS",
        "CONFIGURABLE_AGENTS_OPERATOR_TASK_ISSUER",
    }


def test_task_auth_off_renders_none_of_it(tmp_path: Path) -> None:
    docs = render(tmp_path, {"agents": {"taskAuth": {"enabled": False}}})
    assert not any(
        k.startswith("CONFIGURABLE_AGENTS_OPERATOR_TASK_") for k in agent_ingress_env(docs)
    )
    gateway = deployment(docs, "gateway")["spec"]
    container = gateway["containers"][0]
    assert not [e for e in container["env"] if e["name"].startswith("CONFIGURABLE_AGENTS_TASK_")]
    # (the tool policy is mounted whatever taskAuth says)
    assert [v["name"] for v in gateway["volumes"]] == ["tmp", "tool-policy"]
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp", "tool-policy"]
