"""Runs survive the death of any process: 2 gateways, 3 agents, real Postgres, real HTTP."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.agent.harness import AgentProcess
from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess
from tests.operator_harness import eventually
from tests.processes import metric

pytestmark = pytest.mark.slow

SEARCHES = ("search_web", "search_papers", "search_news")
NODES = ("plan", *SEARCHES, "summarise")


def fan_out_workflow(folder: Path, *, delay: str = "0s") -> Path:
    """Example 03 with retries (and optionally slow searches), in a folder of its own."""
    doc = yaml.safe_load((EXAMPLES / "03-parallel-fan-out" / "workflow.yaml").read_text())
    for node in doc["spec"]["nodes"]:
        node["retry"] = {"maxAttempts": 5, "initialDelay": "100ms", "maxDelay": "1s"}
    for model in ("web", "papers", "news"):
        doc["spec"]["models"][model]["delay"] = delay
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workflow.yaml").write_text(yaml.safe_dump(doc))
    return folder


def start_agents(folder: Path, count: int, *, max_tasks: int = 16) -> list[AgentProcess]:
    agents = [
        AgentProcess(
            folder,
            name=f"agent-{i}",
            capabilities=("llm", "web-research"),
            max_concurrent_tasks=max_tasks,
        )
        for i in range(count)
    ]
    for agent in agents:
        agent.wait_ready()
    return agents


def agents_flag(agents: list[AgentProcess]) -> list[str]:
    urls = ",".join(a.url for a in agents)
    return ["--agents", f"llm={urls}", "--agents", f"web-research={urls}"]


async def submit(urls: list[str], count: int) -> list[str]:
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{urls[i % len(urls)]}/v1/workflows/default/parallel-fan-out/runs",
                    json={"input": {"topic": f"t{i}"}},
                )
                for i in range(count)
            )
        )
    assert all(r.status_code == 202 for r in responses), [
        r.text for r in responses if r.status_code != 202
    ][:3]
    return [r.json()["id"] for r in responses]


async def wait_all(url: str, ids: list[str], *, limit: float = 240) -> list[dict[str, Any]]:
    deadline = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        while True:
            runs = [
                r.json() for r in await asyncio.gather(*(client.get(f"/v1/runs/{i}") for i in ids))
            ]
            pending = [
                r for r in runs if r.get("status") not in ("succeeded", "failed", "cancelled")
            ]
            if not pending:
                return runs
            assert time.monotonic() < deadline, f"{len(pending)} runs unfinished, e.g. {pending[0]}"
            await asyncio.sleep(0.5)


def assert_each_node_once(runs: list[dict[str, Any]], *, crashed: bool = False) -> None:
    """Every run succeeded and its output holds each node's contribution exactly once.

    Without a crash each node also succeeded exactly once. With one, a node that finished on the
    dead process after its last checkpoint ran again (at-least-once): its output still counts once.
    """
    failed = [r for r in runs if r["status"] != "succeeded"]
    assert not failed, (len(failed), failed[0]["error"]["message"])
    for run in runs:
        assert sorted(run["output"]["findings"]) == sorted(set(run["output"]["findings"]))
        assert len(run["output"]["findings"]) == 3, run["output"]
        done = [s["node"] for s in run["steps"] if s["status"] == "succeeded"]
        if crashed:
            assert set(done) == set(NODES), (run["id"], run["steps"])
        else:
            assert sorted(done) == sorted(NODES), (run["id"], run["steps"])


def test_two_gateways_three_agents_two_hundred_runs(
    postgres_url: str, start_gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    agents = start_agents(tmp_path, 3)
    try:
        workflows = fan_out_workflow(tmp_path / "wf")
        gateways = [
            start_gateway(postgres_url, *agents_flag(agents), workflows=workflows) for _ in range(2)
        ]
        started = time.monotonic()
        ids = asyncio.run(submit([g.url for g in gateways], 200))
        runs = asyncio.run(wait_all(gateways[0].url, ids))
        took = time.monotonic() - started
        assert_each_node_once(runs)
        served = sum(a.tasks_done() for a in agents)
        assert served == 200 * len(NODES)
        assert all(a.tasks_done() > 0 for a in agents)
        print(f"200 runs x {len(NODES)} nodes through 2 gateways and 3 agents: {took:.1f}s")
    finally:
        for agent in agents:
            agent.stop()


def test_a_killed_gateway_loses_no_run(
    postgres_url: str, start_gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    agents = start_agents(tmp_path, 2)
    try:
        workflows = fan_out_workflow(tmp_path / "wf", delay="300ms")
        flags = [*agents_flag(agents), "--lease-ttl", "2"]
        doomed = start_gateway(postgres_url, *flags, workflows=workflows)
        survivor = start_gateway(postgres_url, *flags, workflows=workflows)
        ids = asyncio.run(submit([doomed.url], 40))
        # kill it while it holds runs (busy agents send others back to the queue)
        holds = f"/{doomed.proc.pid}"
        eventually(
            lambda: any(
                run["status"] == "running" and str(run.get("leaseOwner")).endswith(holds)
                for run in httpx.get(f"{survivor.url}/v1/runs?limit=100").json()["items"]
            ),
            timeout=20,
        )
        doomed.kill(signal.SIGKILL)
        runs = asyncio.run(wait_all(survivor.url, ids))
        assert_each_node_once(runs, crashed=True)
        # the dead gateway's runs were taken over when their leases expired, and counted so
        taken = metric(survivor.url, "configurable_agents_lease_takeovers_total")
        assert taken >= 1, "no lease takeover counted by the surviving gateway"
        again = sum(len(r["steps"]) for r in runs) - sum(
            1 for r in runs for s in r["steps"] if s["status"] == "succeeded"
        )
        print(f"steps not succeeded (retried, cut off by the kill): {again}")
    finally:
        for agent in agents:
            agent.stop()


def test_a_killed_agent_and_an_empty_pool(
    postgres_url: str, start_gateway: Callable[..., GatewayProcess], tmp_path: Path
) -> None:
    agents = start_agents(tmp_path, 2)
    urls = [a.url for a in agents]
    workflows = fan_out_workflow(tmp_path / "wf", delay="200ms")
    gateway = start_gateway(postgres_url, *agents_flag(agents), workflows=workflows)
    try:
        ids = asyncio.run(submit([gateway.url], 20))
        time.sleep(0.5)
        agents[0].signal(signal.SIGKILL)  # its tasks go to the other agent
        agents[0].wait_stopped()
        runs = asyncio.run(wait_all(gateway.url, ids))
        assert_each_node_once(runs, crashed=True)

        agents[1].stop()  # no agent left: new runs wait, they do not fail
        waiting = asyncio.run(submit([gateway.url], 5))
        time.sleep(3)
        with httpx.Client(base_url=gateway.url, timeout=10) as client:
            statuses = {client.get(f"/v1/runs/{i}").json()["status"] for i in waiting}
        assert statuses <= {"queued", "running"}, statuses
        port = int(urls[1].rsplit(":", 1)[1])  # an agent comes back where the gateway looks
        back = AgentProcess(
            tmp_path, name="agent-back", port=port, capabilities=("llm", "web-research")
        )
        back.wait_ready()
        agents.append(back)
        assert_each_node_once(asyncio.run(wait_all(gateway.url, waiting)))
    finally:
        for agent in agents:
            agent.stop()


def test_postgres_restart_mid_runs(
    start_gateway: Callable[..., GatewayProcess],
    postgres_url: str,
    postgres_server: Any,
    tmp_path: Path,
) -> None:
    agents = start_agents(tmp_path, 2)
    try:
        workflows = fan_out_workflow(tmp_path / "wf", delay="200ms")
        gateway = start_gateway(postgres_url, *agents_flag(agents), workflows=workflows)
        ids = asyncio.run(submit([gateway.url], 20))
        time.sleep(0.5)
        postgres_server.restart()
        runs = asyncio.run(wait_all(gateway.url, ids))
        assert_each_node_once(runs, crashed=True)
    finally:
        for agent in agents:
            agent.stop()
