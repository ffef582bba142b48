"""The gateway proves its tasks to agents (``auth.task_tokens``): with a shared secret here, and
with its projected ServiceAccount token on the real control plane, verified by the agent against
the API server's own issuer; any other caller's task is refused and nothing runs."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.harness import SECRET, AgentProcess, counts, post_task, signed, start_secret_agent
from tests.gateway.conftest import GatewayProcess

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: counted}
spec:
  state: {topic: {type: string}, answer: {type: string}}
  input: [topic]
  output: [answer]
  tools:
    - {name: record, function: "tests.counting_tools:record"}
  nodes:
    - {name: count, type: tool, tool: record, args: {label: "{{ topic }}"}, output: answer}
  edges:
    - {from: START, to: count}
    - {from: count, to: END}
"""


@pytest.fixture
def secret_agent(tmp_path: Path) -> Iterator[AgentProcess]:
    agent = start_secret_agent(tmp_path)
    yield agent
    agent.stop()


def test_the_gateway_signs_its_tasks_and_the_agent_runs_them(
    secret_agent: AgentProcess, tmp_path: Path, start_gateway: Any, sqlite_url: str
) -> None:
    assert post_task(secret_agent, signed(SECRET)).status_code == 200  # the right token works
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "counted.yaml").write_text(WORKFLOW)
    agents = f"llm={secret_agent.url}"
    gateway: GatewayProcess = start_gateway(
        sqlite_url,
        "--agents",
        agents,
        workflows=folder,
        env={"CONFIGURABLE_AGENTS_TASK_SECRET": SECRET},
    )
    with gateway.client() as client:
        done = client.post(
            "/v1/workflows/default/counted/runs", json={"input": {"topic": "t1"}, "wait": True}
        ).json()
    assert done["status"] == "succeeded", done
    assert counts(secret_agent.counter_dir) == {"t1": 1}
    # a gateway that does not know the secret gets its task refused, and the run says why
    wrong: GatewayProcess = start_gateway(
        sqlite_url,
        "--agents",
        agents,
        workflows=folder,
        env={"CONFIGURABLE_AGENTS_TASK_SECRET": "not-the-secret-0123456789abcdefghij"},
    )
    with wrong.client() as client:
        failed = client.post(
            "/v1/workflows/default/counted/runs", json={"input": {"topic": "t2"}, "wait": True}
        ).json()
    assert failed["status"] == "failed", failed
    assert "401" in failed["error"]["message"] or "unauthenticated" in failed["error"]["message"]
    assert counts(secret_agent.counter_dir) == {"t1": 1}
    wrong.kill(signal.SIGTERM)
