"""The operator's tool policy without a cluster: agents' env, Workflow status, a bad policy."""

from __future__ import annotations

import os
from typing import Any

import pytest
from agents_operator.builders import build_children
from agents_operator.handlers.workflow import evaluate
from agents_operator.main import tool_policy
from agents_operator.settings import OperatorSettings

from agent_runtime.agent.settings import AgentSettings
from agent_runtime.policy import ToolPolicy, load_policy
from agent_runtime.spec.agentpool import AgentPool

PREFIX = "CONFIGURABLE_AGENTS_POLICY_"
#: No pools and no endpoints: kopf indexes read like dicts.
NONE: Any = {}
STRICT = ToolPolicy(
    allowed_functions=["tests.tools.sample_tools:*"],
    egress_allow=["https://api.example.com/"],
    allow_private=True,
)


def pool(env: list[dict[str, Any]] | None = None) -> AgentPool:
    return AgentPool.model_validate(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "AgentPool",
            "metadata": {"name": "tools", "namespace": "demo"},
            "spec": {"capabilities": ["tools"], "env": env or []},
        }
    )


def agent_env(policy: ToolPolicy, env: list[dict[str, Any]] | None = None) -> list[Any]:
    children = build_children(pool(env), OperatorSettings(), policy)
    [workload] = [c for c in children if c["kind"] == "Deployment"]
    container = workload["spec"]["template"]["spec"]["containers"][0]
    return list(container["env"])


def policy_env(env: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in env if e["name"].startswith(PREFIX)}


def test_agents_get_every_policy_setting_spelled_out() -> None:
    assert policy_env(agent_env(STRICT)) == {
        f"{PREFIX}PRESET": "cluster",
        f"{PREFIX}ALLOWED_FUNCTIONS": '["tests.tools.sample_tools:*"]',
        f"{PREFIX}EGRESS_ALLOW": '["https://api.example.com/"]',
        f"{PREFIX}ALLOW_LOOPBACK": "false",
        f"{PREFIX}ALLOW_PRIVATE": "true",
    }
    assert policy_env(agent_env(ToolPolicy.cluster()))[f"{PREFIX}ALLOWED_FUNCTIONS"] == "[]"
    assert policy_env(agent_env(ToolPolicy.local()))[f"{PREFIX}PRESET"] == "local"


@pytest.mark.parametrize("policy", [STRICT, ToolPolicy.cluster(), ToolPolicy.local()])
def test_agents_read_back_exactly_the_operators_policy(
    policy: ToolPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both readers of the env (load_policy and the agent's settings) get the same policy."""
    env = policy_env(agent_env(policy))
    assert load_policy(env, default="local") == policy
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert AgentSettings().tool_policy() == policy


def test_a_pools_env_cannot_loosen_the_policy() -> None:
    env = agent_env(
        STRICT,
        [
            {"name": f"{PREFIX}ALLOWED_FUNCTIONS", "value": "*"},
            {"name": f"{PREFIX}PRESET", "value": "local"},
            {"name": f"{PREFIX}FILE", "value": "/etc/loose.yaml"},
            {
                "name": f"{PREFIX}ALLOW_LOOPBACK",
                "valueFrom": {"configMapKeyRef": {"name": "x", "key": "y"}},
            },
            {"name": "POOL_SETTING", "value": "kept"},
        ],
    )
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), "a name twice fails the apply"
    assert f"{PREFIX}FILE" not in names
    assert load_policy(policy_env(env)) == STRICT
    assert {"name": "POOL_SETTING", "value": "kept"} in env


def workflow(tools: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf", "namespace": "demo", "generation": 1},
        "spec": {
            "tools": tools,
            "nodes": [
                {"name": "t", "type": "tool", "tool": tools[0]["name"], "capability": "tools"}
            ],
            "edges": [{"from": "START", "to": "t"}, {"from": "t", "to": "END"}],
        },
    }


def condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in status["conditions"] if c["type"] == kind)
    return found


def test_a_refused_function_stalls_the_workflow_naming_the_field() -> None:
    body = workflow([{"name": "x", "function": "subprocess:getoutput"}])
    status = evaluate(body, NONE, NONE, ToolPolicy.cluster())
    stalled = condition(status, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "ToolPolicy"
    assert stalled["message"].startswith("spec.tools[0].function: 'subprocess:getoutput'")
    assert condition(status, "Ready")["status"] == "False"
    # A policy allowing it: only the capability is missing now.
    allowed = ToolPolicy(allowed_functions=["subprocess:getoutput"])
    status = evaluate(body, NONE, NONE, allowed)
    assert condition(status, "Stalled")["status"] == "False"
    assert condition(status, "Reconciling")["reason"] == "CapabilitiesUnavailable"


def test_every_refused_tool_is_named() -> None:
    body = workflow(
        [
            {"name": "x", "function": "os:system"},
            {"name": "m", "mcp": {"url": "http://169.254.169.254/mcp"}},
        ]
    )
    message = condition(evaluate(body, NONE, NONE, STRICT), "Stalled")["message"]
    assert "spec.tools[0].function" in message and "spec.tools[1].mcp.url" in message


def test_a_bad_policy_stops_the_operator_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{PREFIX}ALLOWED_FUNCTIONS", "pkg*")
    with pytest.raises(SystemExit) as exited:
        tool_policy()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"error: tool policy: {PREFIX}ALLOWED_FUNCTIONS")
