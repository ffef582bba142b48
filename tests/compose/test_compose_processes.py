"""What a generated compose file runs works: its gateway and agent services, started as real
processes on loopback with the commands, arguments and environment Compose resolves (secrets
from the env file), run the example Workflow through the agents.

Only what a container engine gives is replaced: the port each process listens on (every
container has its own 8080), Compose's DNS names (each pool's replicas by their loopback URLs),
the bind-mounted folder's path, and the Postgres service (the tests' real Postgres)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.compose.harness import COMMITTED_SOURCE, generate, resolved
from tests.conftest import REPO
from tests.processes import free_port, stop, wait_healthy

CONTAINER_PORT = 8080


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def environment(service: dict[str, Any], **over: str) -> dict[str, str]:
    """The service's resolved environment over the test's (minus what the file sets itself)."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CONFIGURABLE_AGENTS_", "OTEL_")) and k != "OPENAI_API_KEY"
    }
    given = {k: "" if v is None else str(v) for k, v in service["environment"].items()}
    return {**base, **given, "PYTHONPATH": str(REPO), **over}


def start(name: str, args: list[str], env: dict[str, str], port: int, folder: Path) -> Served:
    """``configurable-agents ARGS`` as the image's entrypoint runs it, once /readyz answers."""
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent_runtime", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
        )
    served = Served(proc, port, log)
    wait_healthy(proc, f"{served.url}/readyz", log, what=name, timeout=60)
    return served


def health_check_passes(service: dict[str, Any], port: int) -> bool:
    """The service's own health check command, aimed at the process's port."""
    test = [
        part.replace(f":{CONTAINER_PORT}/", f":{port}/") for part in service["healthcheck"]["test"]
    ]
    assert test[:2] == ["CMD", "python"], test
    return subprocess.run([sys.executable, *test[2:]], timeout=30).returncode == 0


@dataclass(frozen=True)
class Case:
    folder: str
    flags: tuple[str, ...]
    workflow: str
    given: dict[str, str]
    output: dict[str, Any]
    #: Node tasks the agents run: one per node visit (a tool-calling loop is one task).
    tasks: int


CASES = [
    Case("01-linear-chain", (), "linear-chain", {"topic": "compose"}, {}, 2),
    # function tools need the platform's leave, as in the chart (policy.tools.allowedFunctions)
    Case(
        "05-tool-agent",
        ("--allow-function", "agent_runtime.tools.library:*"),
        "tool-agent",
        {"question": "what is six times seven"},
        {"answer": "42", "words": 5},
        2,
    ),
]


@pytest.fixture(params=CASES, ids=[c.folder for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


@pytest.fixture
def project(case: Case, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "project"
    done = generate(COMMITTED_SOURCE.parent / case.folder, out, *case.flags)
    assert done.returncode == 0, done.stderr
    assert "note:" not in done.stderr, done.stderr
    return resolved(out)


@pytest.fixture
def running(
    project: dict[str, Any], postgres_url: str, tmp_path: Path
) -> Iterator[tuple[Served, dict[str, list[Served]]]]:
    services = project["services"]
    started: list[Served] = []
    agents: dict[str, list[Served]] = {}
    try:
        for name, service in services.items():
            if not name.startswith("agent-"):
                continue
            assert service["command"][:3] == ["agent", "--port", str(CONTAINER_PORT)]
            for replica in range(service["deploy"]["replicas"]):
                port = free_port()
                args = ["agent", "--port", str(port), *service["command"][3:]]
                # a container listens on all its addresses; a test process on loopback only
                env = environment(service, CONFIGURABLE_AGENTS_HOST="127.0.0.1")
                served = start(f"{name}-{replica}", args, env, port, tmp_path)
                started.append(served)
                agents.setdefault(f"http://{name}:{CONTAINER_PORT}", []).append(served)
        gateway = services["gateway"]
        (mount,) = gateway["volumes"]
        folder = mount.split(":")[0]
        port = free_port()
        args = []
        for arg in gateway["command"]:
            if arg == "--host=0.0.0.0":
                arg = "--host=127.0.0.1"
            elif arg == f"--port={CONTAINER_PORT}":
                arg = f"--port={port}"
            elif arg.startswith("--workflows="):
                arg = f"--workflows={folder}"
            elif arg.startswith("--agents="):
                # Compose's DNS answers a service's name with every replica
                arg = re.sub(
                    r"http://agent-[a-z0-9-]+:\d+",
                    lambda m: ",".join(s.url for s in agents[m.group(0)]),
                    arg,
                )
            args.append(arg)
        env = environment(gateway, CONFIGURABLE_AGENTS_STORE=postgres_url)
        served = start("gateway", args, env, port, tmp_path)
        started.append(served)
        yield served, agents
    finally:
        for served in started:
            stop(served.proc, 15)


def tasks_done(agent: Served) -> float:
    text = httpx.get(f"{agent.url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("configurable_agents_agent_tasks_total{")
    )


def test_the_compose_services_run_the_example_through_the_agents(
    case: Case, project: dict[str, Any], running: tuple[Served, dict[str, list[Served]]]
) -> None:
    gateway, agents = running
    (replicas,) = agents.values()
    assert len(replicas) == 2, "deploy.replicas of the pool"
    with httpx.Client(base_url=gateway.url, timeout=60) as client:
        listed = client.get("/v1/workflows").json()
        assert [w["name"] for w in listed["items"]] == [case.workflow], listed
        done = client.post(
            f"/v1/workflows/default/{case.workflow}/runs",
            json={"input": case.given, "wait": True},
        ).json()
        assert done["status"] == "succeeded", done
        assert case.output.items() <= done["output"].items(), done["output"]
        # the dashboard the gateway embeds, signed with the env file's secret
        assert client.get("/ui/").status_code == 200
    # every node ran on the pool's agents, not in the gateway
    assert sum(tasks_done(a) for a in replicas) == case.tasks
    # the agents take the gateway's signed tasks only
    refused = httpx.post(f"{replicas[0].url}/v1/tasks", json={}, timeout=5)
    assert refused.status_code == 401
    services = project["services"]
    assert health_check_passes(services["gateway"], gateway.port)
    (agent,) = [name for name in services if name.startswith("agent-")]
    assert health_check_passes(services[agent], replicas[0].port)
