"""The operator tells a pool's pods which of their variables come from Secrets (names only)."""

from __future__ import annotations

from typing import Any

from agents_operator.builders import build_children
from agents_operator.settings import OperatorSettings

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.agentpool import AgentPool
from agent_runtime.telemetry.secrets import SECRET_ENV


def env_of(env: list[dict[str, Any]]) -> dict[str, Any]:
    pool = AgentPool.model_validate(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "p", "namespace": "demo"},
            "spec": {"capabilities": ["llm"], "env": env},
        }
    )
    children = build_children(pool, OperatorSettings(), ToolPolicy.cluster())
    workload = next(c for c in children if c["kind"] in ("Deployment", "StatefulSet"))
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def ref(key: str) -> dict[str, Any]:
    return {"valueFrom": {"secretKeyRef": {"name": "creds", "key": key}}}


def test_variables_from_secrets_are_listed_whatever_their_names() -> None:
    env = env_of(
        [
            {"name": "CRM_LOGIN", **ref("crm")},
            {"name": "DATABASE_URL", **ref("db")},
            {"name": "REGION", "value": "eu-west-1"},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        ]
    )
    assert env[SECRET_ENV] == "CRM_LOGIN,DATABASE_URL"
    assert env["CRM_LOGIN"] == ref("crm")["valueFrom"], "the value stays in the Secret"


def test_no_list_without_secrets() -> None:
    assert SECRET_ENV not in env_of([{"name": "REGION", "value": "eu-west-1"}])
