"""The gateway proves its tasks to agents (``auth.task_tokens``): with a shared secret here, and
with its projected ServiceAccount token on the real control plane, verified by the agent against
the API server's own issuer; any other caller's task is refused and nothing runs."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_runtime.auth import AGENT_AUDIENCE
from tests.agent.harness import SECRET, AgentProcess, counts, post_task, signed, start_secret_agent
from tests.gateway.auth_harness import expired_token
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


@pytest.mark.cluster
def test_in_a_cluster_agents_take_only_the_gateways_projected_token(
    control_plane: Any,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
    start_gateway: Any,
    sqlite_url: str,
) -> None:
    """The agent verifies tokens against the test API server's own ServiceAccount issuer (its
    discovery document and JWKS, read with the agent's own token as in a pod): the gateway's
    account with the agents' audience passes, nothing else does."""
    for account in ("gateway", "agent", "intruder"):
        kubectl("create", "serviceaccount", account, "-n", namespace)

    def token(account: str, audience: str | None = AGENT_AUDIENCE) -> str:
        wanted = [f"--audience={audience}"] if audience else []  # none: the API server's own
        out = kubectl("create", "token", account, "-n", namespace, *wanted)
        return str(out.stdout.strip())

    (tmp_path / "agent-token").write_text(token("agent", None))
    (tmp_path / "gateway-token").write_text(token("gateway"))
    gateway_account = f"system:serviceaccount:{namespace}:gateway"
    agent = AgentProcess(
        tmp_path,
        extra_env={
            "CONFIGURABLE_AGENTS_TASK_AUTH": "kubernetes",
            "CONFIGURABLE_AGENTS_TASK_ISSUER": control_plane.server,
            "CONFIGURABLE_AGENTS_TASK_CALLERS": gateway_account,
            "CONFIGURABLE_AGENTS_TASK_CA_FILE": str(Path(control_plane.workdir) / "pki" / "ca.crt"),
            "CONFIGURABLE_AGENTS_TASK_DISCOVERY_TOKEN_FILE": str(tmp_path / "agent-token"),
        },
    )
    agent.wait_ready()
    try:
        refused = {
            "no-token": None,
            "intruder": token("intruder"),
            "another-audience": token("gateway", "some-other-service"),
            "expired-replay": expired_token(control_plane, namespace, "gateway", AGENT_AUDIENCE),
        }
        for case, bad in refused.items():
            answer = post_task(agent, bad)
            assert answer.status_code == 401, f"{case}: {answer.text}"
        assert agent.tasks_done() == 0

        folder = tmp_path / "workflows"
        folder.mkdir()
        (folder / "counted.yaml").write_text(WORKFLOW)
        gateway: GatewayProcess = start_gateway(
            sqlite_url,
            "--agents",
            f"llm={agent.url}",
            workflows=folder,
            env={"CONFIGURABLE_AGENTS_TASK_TOKEN_FILE": str(tmp_path / "gateway-token")},
        )
        with gateway.client() as client:
            done = client.post(
                "/v1/workflows/default/counted/runs", json={"input": {"topic": "k"}, "wait": True}
            ).json()
        assert done["status"] == "succeeded", done
        assert counts(agent.counter_dir) == {"k": 1}
        log = agent.log()
        assert all(t not in log for t in refused.values() if t)
    finally:
        agent.stop()
