"""The gateway admits only Workflows whose tools the platform policy allows: a cluster gateway
(strict preset) lists a Workflow with a `function:` tool as not Ready, naming the field, and
refuses its runs; the local preset and an allow-list let it run."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import CLI, EXAMPLES
from tests.gateway.conftest import GatewayProcess

TOOL_AGENT = EXAMPLES / "05-tool-agent"


def entry(gateway: GatewayProcess) -> dict:  # type: ignore[type-arg]
    with gateway.client() as client:
        items = client.get("/v1/workflows").json()["items"]
    return next(w for w in items if w["name"] == "tool-agent")


def test_a_strict_policy_lists_the_workflow_as_not_ready_naming_the_field(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str
) -> None:
    strict = start_gateway(
        sqlite_url, workflows=TOOL_AGENT, env={"CONFIGURABLE_AGENTS_POLICY_PRESET": "cluster"}
    )
    found = entry(strict)
    ready = next(c for c in found["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False"
    assert "spec.tools[0].function" in ready["message"], ready
    with strict.client() as client:
        refused = client.post(
            "/v1/workflows/default/tool-agent/runs", json={"input": {"question": "2+2"}}
        )
    assert refused.status_code == 409, refused.text
    assert "spec.tools[0].function" in refused.json()["error"]["message"]


def test_an_allow_list_admits_exactly_the_named_functions(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str
) -> None:
    allowed = start_gateway(
        sqlite_url,
        workflows=TOOL_AGENT,
        env={
            "CONFIGURABLE_AGENTS_POLICY_PRESET": "cluster",
            "CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS": "agent_runtime.tools.library:*",
        },
    )
    ready = next(c for c in entry(allowed)["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    with allowed.client() as client:
        done = client.post(
            "/v1/workflows/default/tool-agent/runs",
            json={"input": {"question": "what is six times seven"}, "wait": True},
        ).json()
    assert done["status"] == "succeeded", done


def test_the_cli_refuses_a_disallowed_function_before_storing_anything(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "CONFIGURABLE_AGENTS_POLICY_ALLOWED_FUNCTIONS": "nothing.allowed:*"}
    workflow = str(TOOL_AGENT / "workflow.yaml")
    for args in (["validate", workflow], ["run", workflow, "--input", "question=2+2"]):
        done = subprocess.run(
            [*CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 2, done.stderr
        assert "spec.tools[0].function" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "runs.db").exists(), "a refused run wrote nothing"
