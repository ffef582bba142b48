"""The agent's policy settings: the cluster preset by default, the same variables, fail at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent_runtime.agent.settings import AgentSettings
from agent_runtime.policy import ToolPolicy

P = "CONFIGURABLE_AGENTS_POLICY_"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PRESET",
        "FILE",
        "ALLOWED_FUNCTIONS",
        "EGRESS_ALLOW",
        "ALLOW_LOOPBACK",
        "ALLOW_PRIVATE",
    ):
        monkeypatch.delenv(f"{P}{name}", raising=False)


def test_an_agent_starts_from_the_cluster_preset() -> None:
    assert AgentSettings().tool_policy() == ToolPolicy.cluster()


def test_the_environment_configures_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text("allowedFunctions: [acme.tools.*]\n")
    monkeypatch.setenv(f"{P}FILE", str(file))
    monkeypatch.setenv(f"{P}EGRESS_ALLOW", "https://docs.example.com/,http://mcp.tools.svc/")
    monkeypatch.setenv(f"{P}ALLOW_PRIVATE", "true")
    policy = AgentSettings().tool_policy()
    assert policy.allowed_functions == ["acme.tools.*"]
    assert policy.egress_allow == ["https://docs.example.com/", "http://mcp.tools.svc/"]
    assert (policy.allow_loopback, policy.allow_private) == (False, True)


def test_flags_take_the_same_settings() -> None:
    settings = AgentSettings(policy_preset="local", policy_allowed_functions="a.b:c")
    assert settings.tool_policy() == ToolPolicy(allowed_functions=["a.b:c"], allow_loopback=True)


def test_a_bad_policy_stops_the_agent_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{P}ALLOWED_FUNCTIONS", "os*")
    with pytest.raises(ValidationError, match=f"{P}ALLOWED_FUNCTIONS: 'os\\*' is not a function"):
        AgentSettings()
