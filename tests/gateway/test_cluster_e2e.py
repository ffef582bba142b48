"""A run on the cluster path: operator, gateway --kubernetes, agents found through EndpointSlices.

kwok's pods are not real processes, so the documented test seam CONFIGURABLE_AGENTS_ENDPOINT_MAP
maps each pod address to an agent process on loopback; everything else is the production path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.harness import AgentProcess
from tests.conftest import EXAMPLES, REPO
from tests.operator_harness import OperatorProcess, eventually
from tests.processes import free_port

pytestmark = pytest.mark.cluster


def test_a_run_goes_through_agents_found_in_the_cluster(
    operator: OperatorProcess,
    kubectl: Any,
    namespace: str,
    kubeconfig: str,
    tmp_path: Path,
    sqlite_url: str,
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "01-linear-chain"))
    kubectl(
        "wait",
        "--for=condition=Ready",
        "workflow/linear-chain",
        "-n",
        namespace,
        "--timeout=60s",
        timeout=70,
    )
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    agents = [
        AgentProcess(tmp_path, name=f"agent-{i}", capabilities=("web-research", "llm"))
        for i in range(len(pods))
    ]
    for agent in agents:
        agent.wait_ready()
    try:
        mapping = ",".join(
            f"{p['status']['podIP']}:8080={a.url.removeprefix('http://')}"
            for p, a in zip(pods, agents, strict=True)
        )
        port = free_port()
        env = dict(
            os.environ,
            KUBECONFIG=kubeconfig,
            PYTHONPATH=str(REPO),
            CONFIGURABLE_AGENTS_ENDPOINT_MAP=mapping,
        )
        log = (tmp_path / "gateway.log").open("wb")
        gateway = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_runtime",
                "serve",
                "--kubernetes",
                "--insecure-no-auth",
                "--namespace",
                namespace,
                "--port",
                str(port),
                "--store",
                sqlite_url,
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"

            def listed() -> bool:
                try:
                    items = httpx.get(f"{url}/v1/workflows", timeout=2).json()["items"]
                except httpx.HTTPError:
                    return False
                return any(
                    i["name"] == "linear-chain" and i["conditions"][0]["status"] == "True"
                    for i in items
                )

            eventually(lambda: gateway.poll() is None and listed(), timeout=30)
            response = httpx.post(
                f"{url}/v1/workflows/{namespace}/linear-chain/runs",
                json={"input": {"topic": "leases"}, "wait": True},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            run = response.json()
            assert run["status"] == "succeeded", run
            assert run["output"]["draft"].startswith("Brief:")
            served = sum(a.tasks_done() for a in agents)
            assert served == 2  # research and write, each on an agent found through the cluster
        finally:
            gateway.terminate()
            gateway.wait(timeout=30)
    finally:
        for agent in agents:
            agent.stop()
