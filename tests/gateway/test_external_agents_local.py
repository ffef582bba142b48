"""External agents with no cluster: a loopback ``serve --agents ...`` keeps registrations in its
memory, and a pull-only agent process serves a capability no fixed agent does."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.agent.harness import SECRET, AgentProcess
from tests.conftest import REPO
from tests.gateway.conftest import GatewayProcess
from tests.operator_harness import eventually
from tests.processes import free_port


def test_a_pull_agent_serves_a_capability_of_a_gateway_without_a_cluster(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> None:
    research = AgentProcess(tmp_path, name="research", capabilities=("web-research",))
    research.wait_ready()
    gateway = start_gateway(sqlite_url, "--agents", f"web-research={research.url}")
    puller = AgentProcess(
        tmp_path,
        name="puller",
        capabilities=("llm",),
        cli_args=[
            "--gateway",
            gateway.url,
            "--pool",
            "laptops",
            "--namespace",
            "default",
            "--pull",
            "--name",
            "laptop",
        ],
    )
    try:
        puller.wait_ready()
        with gateway.client() as client:
            for _ in range(3):
                done = client.post(
                    "/v1/workflows/default/linear-chain/runs",
                    json={"input": {"topic": "pull"}, "wait": True},
                ).json()
                assert done["status"] == "succeeded", done
                assert done["output"]["draft"].startswith("Brief:")
        assert research.tasks_done() == 3
        assert puller.tasks_done() == 3  # every write task, pulled
    finally:
        puller.stop()
        research.stop()
    assert "registered with" in puller.log()


def test_the_clusters_task_credentials_never_reach_an_external_agent(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str, tmp_path: Path
) -> None:
    """The gateway signs tasks for its own agents; an external push agent gets them unsigned
    (holding the token, it could pass for the gateway): one demanding it refuses the task."""
    secret = {"CONFIGURABLE_AGENTS_TASK_AUTH": "secret", "CONFIGURABLE_AGENTS_TASK_SECRET": SECRET}
    research = AgentProcess(
        tmp_path, name="research", capabilities=("web-research",), extra_env=secret
    )
    research.wait_ready()
    gateway = start_gateway(
        sqlite_url,
        "--agents",
        f"web-research={research.url}",
        env={"CONFIGURABLE_AGENTS_TASK_SECRET": SECRET},
    )
    port = free_port()
    outsider = AgentProcess(
        tmp_path,
        name="outsider",
        port=port,
        capabilities=("llm",),
        extra_env=secret,
        cli_args=[
            "--gateway",
            gateway.url,
            "--pool",
            "laptops",
            "--namespace",
            "default",
            "--advertise",
            f"http://127.0.0.1:{port}",
            "--name",
            "outsider",
        ],
    )
    try:
        outsider.wait_ready()
        with gateway.client() as client:
            done = client.post(
                "/v1/workflows/default/linear-chain/runs",
                json={"input": {"topic": "tokens"}, "wait": True},
            ).json()
        assert research.tasks_done() == 1  # signed for the gateway's own agent
        assert done["status"] == "failed", done
        assert "401" in done["error"]["message"], done["error"]
        assert "refused a task" in outsider.log()
    finally:
        outsider.stop()
        research.stop()


def test_a_gateway_running_tasks_in_process_takes_no_external_agents(
    start_gateway: Callable[..., GatewayProcess], sqlite_url: str
) -> None:
    gateway = start_gateway(sqlite_url)
    answer = httpx.post(
        f"{gateway.url}/v1/namespaces/default/agentpools/p/members",
        json={"name": "m", "capabilities": ["llm"], "pull": True},
    )
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "no_external_agents"


def test_an_agent_started_before_its_gateway_waits_for_it(sqlite_url: str, tmp_path: Path) -> None:
    """No gateway listening yet: the agent says so in a line per try (no traceback), is not
    ready, and registers once the gateway is up; a token file it cannot read is one line."""
    port = free_port()
    early = AgentProcess(
        tmp_path,
        name="early",
        capabilities=("llm",),
        cli_args=[
            *("--gateway", f"http://127.0.0.1:{port}", "--pool", "laptops"),
            *("--namespace", "default", "--pull", "--name", "early"),
        ],
    )
    research = AgentProcess(tmp_path, name="research", capabilities=("web-research",))
    gateway = None
    try:
        eventually(lambda: "cannot register with" in early.log(), timeout=30)
        assert httpx.get(f"{early.url}/readyz").status_code == 503
        research.wait_ready()
        gateway = GatewayProcess(
            sqlite_url, tmp_path, "--agents", f"web-research={research.url}", port=port
        )
        early.wait_ready(timeout=30)
        with gateway.client() as client:
            done = client.post(
                "/v1/workflows/default/linear-chain/runs",
                json={"input": {"topic": "late"}, "wait": True},
            ).json()
        assert done["status"] == "succeeded", done
        assert early.tasks_done() == 1
    finally:
        early.stop()
        research.stop()
        if gateway is not None:
            gateway.kill(signal.SIGTERM)
    assert "registered with" in early.log() and "Traceback" not in early.log()

    unreadable = AgentProcess(
        tmp_path,
        name="unreadable",
        capabilities=("llm",),
        extra_env={"CONFIGURABLE_AGENTS_GATEWAY_TOKEN_FILE": str(tmp_path / "no-such-token")},
        cli_args=[
            *("--gateway", f"http://127.0.0.1:{port}", "--pool", "laptops"),
            *("--namespace", "default", "--pull"),
        ],
    )
    assert unreadable.proc.wait(30) == 1
    log = unreadable.log()
    assert "gateway_token_file: cannot read" in log and "Traceback" not in log


def test_agent_flags_missing_for_a_gateway_are_named(tmp_path: Path) -> None:
    def agent(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent_runtime", "agent", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        )

    no_pool = agent("--gateway", "http://127.0.0.1:9", "--namespace", "a", "--pull")
    assert no_pool.returncode == 2 and "pool" in no_pool.stderr, no_pool.stderr
    no_address = agent("--gateway", "http://127.0.0.1:9", "--namespace", "a", "--pool", "p")
    assert no_address.returncode == 2 and "advertise" in no_address.stderr, no_address.stderr
    bad_url = agent("--gateway", "gateway:80", "--namespace", "a", "--pool", "p", "--pull")
    assert bad_url.returncode == 2 and "gateway" in bad_url.stderr, bad_url.stderr
    assert "Traceback" not in no_pool.stderr + no_address.stderr + bad_url.stderr
