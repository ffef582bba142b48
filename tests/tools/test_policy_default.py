"""Which tool policy a process gets when nothing sets one: the strict ``cluster`` preset, except
where an entry point chooses ``local`` on purpose (``run``, and ``serve`` on a loopback address)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from agent_runtime.agent import AgentSettings
from agent_runtime.cli.policy import local_policy
from agent_runtime.executors import TaskExecutor
from agent_runtime.gateway import GatewaySettings
from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.policy import policy_or_default
from tests.conftest import CLI, EXAMPLES


@pytest.fixture
def no_policy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``CONFIGURABLE_AGENTS_POLICY_*`` at all (tests/conftest.py sets the preset to local)."""
    for name in list(os.environ):
        if name.startswith("CONFIGURABLE_AGENTS_POLICY_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_policy_env")
async def test_a_process_that_chooses_no_policy_gets_the_cluster_preset() -> None:
    assert policy_or_default(None) == ToolPolicy.cluster()
    assert TaskExecutor().tools.policy == ToolPolicy.cluster()
    with pytest.raises(ToolError, match="allowedFunctions: none"):
        await ToolBox().get(ToolSpec(name="calc", function="agent_runtime.tools.library:calculate"))


@pytest.mark.usefixtures("no_policy_env")
def test_entry_points_choose_their_preset() -> None:
    """``run`` and a loopback ``serve`` without authentication are one person's own machine;
    agents and any gateway others can reach are a cluster's."""
    assert local_policy() == ToolPolicy.local()
    assert GatewaySettings(host="127.0.0.1").tool_policy() == ToolPolicy.local()
    assert GatewaySettings(host="::1").tool_policy() == ToolPolicy.local()
    exposed = GatewaySettings(host="0.0.0.0", insecure_no_auth=True)
    assert exposed.tool_policy() == ToolPolicy.cluster()
    in_cluster = GatewaySettings(host="127.0.0.1", kubernetes=True, insecure_no_auth=True)
    assert in_cluster.tool_policy() == ToolPolicy.cluster()
    # Authentication, even on loopback, means others call it (through a proxy or a tunnel).
    for others in (
        GatewaySettings(host="127.0.0.1", auth=["kubernetes"]),
        GatewaySettings(
            host="127.0.0.1",
            auth=["oidc"],
            oidc_issuer_url="https://login.example.com",
            oidc_audience="agents",
        ),
        GatewaySettings(host="127.0.0.1", insecure_no_auth=True),
    ):
        assert others.tool_policy() == ToolPolicy.cluster(), others
    assert AgentSettings().tool_policy() == ToolPolicy.cluster()


def test_run_on_a_laptop_still_allows_functions(cli_env: dict[str, str]) -> None:
    """`configurable-agents run` with no policy settings at all runs a Workflow of function tools."""
    env = {k: v for k, v in cli_env.items() if not k.startswith("CONFIGURABLE_AGENTS_POLICY_")}
    workflow = str(EXAMPLES / "05-tool-agent" / "workflow.yaml")
    done = subprocess.run(
        [*CLI, "run", workflow, "--input", "question=what is six times seven"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["words"] == 5
