"""The platform tool policy on the real control plane: the operator stalls Workflows whose tools
it refuses (naming the field), clears that when the policy or the Workflow is fixed, and gives the
agent pods the policy it admits under."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

from tests.operator.conftest import OperatorProcess, eventually, restart_with
from tests.operator.test_agentpool import get, pool_yaml, wait_ready
from tests.operator.test_workflow import condition

pytestmark = pytest.mark.cluster

PREFIX = "CONFIGURABLE_AGENTS_POLICY_"
#: The cluster preset (the tests' session runs the local one): no function at all.
STRICT = {"PRESET": "cluster"}
#: A pool trying to loosen its agents' policy: the operator's entries replace these.
LOOSE_ENV = f"""  env:
    - {{name: {PREFIX}ALLOWED_FUNCTIONS, value: "*"}}
    - {{name: {PREFIX}FILE, value: /etc/loose.yaml}}
"""
SAMPLE_TOOLS = {"PRESET": "cluster", "ALLOWED_FUNCTIONS": "tests.tools.sample_tools:*"}
WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: {name}}}
spec:
  tools:
    - {{name: x, function: "{function}"}}
  nodes:
    - {{name: call, type: tool, capability: web-research, tool: x}}
  edges:
    - {{from: START, to: call}}
    - {{from: call, to: END}}
"""

Configure = Callable[[dict[str, str]], None]


@pytest.fixture(scope="module")
def configure(operator: OperatorProcess) -> Iterator[Configure]:
    """Restart the session's operator with this tool policy; the session's again afterwards."""

    def restart(settings: dict[str, str]) -> None:
        restart_with(operator, PREFIX, settings)

    try:
        yield restart
    finally:
        restart({})


def workflow_yaml(name: str, function: str) -> str:
    return WORKFLOW.format(name=name, function=function)


def stalled_by_policy(kubectl: Any, namespace: str, name: str) -> dict[str, Any]:
    found = get(kubectl, namespace, "workflow", name)
    stalled = condition(found, "Stalled")
    assert stalled["status"] == "True" and stalled["reason"] == "ToolPolicy", stalled
    assert condition(found, "Ready")["status"] == "False"
    assert found["status"]["observedGeneration"] == found["metadata"]["generation"]
    return stalled


def test_refused_functions_stall_until_the_policy_or_the_workflow_is_fixed(
    configure: Configure, kubectl: Any, namespace: str
) -> None:
    configure(STRICT)
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=LOOSE_ENV))
    kubectl(
        "apply", "-n", namespace, "-f", "-", stdin=workflow_yaml("shell", "subprocess:getoutput")
    )
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=workflow_yaml("adder", "tests.tools.sample_tools:add"),
    )
    for name in ("shell", "adder"):
        stalled = eventually(partial(stalled_by_policy, kubectl, namespace, name), timeout=60)
        assert stalled["message"].startswith("spec.tools[0].function: ")
        assert "allowedFunctions: none" in stalled["message"]
    assert "'subprocess:getoutput'" in stalled_by_policy(kubectl, namespace, "shell")["message"]
    wait_ready(kubectl, namespace, "agentpool/pool")

    # The policy now allows the sample tools: that Workflow is Ready, the other still refused.
    configure(SAMPLE_TOOLS)
    wait_ready(kubectl, namespace, "workflow/adder", timeout=60)
    stalled = stalled_by_policy(kubectl, namespace, "shell")
    assert "tests.tools.sample_tools:*" in stalled["message"]

    # The agents are given exactly that policy (whatever the pool's own env said).
    def agent_env() -> dict[str, str]:
        deployment = get(kubectl, namespace, "deployment", "pool")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"{PREFIX}ALLOWED_FUNCTIONS"] == json.dumps(["tests.tools.sample_tools:*"])
        return env

    env = eventually(agent_env, timeout=60)
    assert f"{PREFIX}FILE" not in env
    assert env[f"{PREFIX}PRESET"] == "cluster"
    assert env[f"{PREFIX}EGRESS_ALLOW"] == '["*"]'
    assert env[f"{PREFIX}ALLOW_LOOPBACK"] == "false"
    assert env[f"{PREFIX}ALLOW_PRIVATE"] == "false"

    # The refused Workflow, fixed: Ready on its next evaluation.
    fixed = workflow_yaml("shell", "tests.tools.sample_tools:whoami")
    kubectl("apply", "-n", namespace, "-f", "-", stdin=fixed)
    wait_ready(kubectl, namespace, "workflow/shell", timeout=60)
    assert condition(get(kubectl, namespace, "workflow", "shell"), "Stalled")["status"] == "False"
