"""The queue's figures per namespace and capability (what AgentPools on ``autoscaling.metric:
queue`` scale on): counted from the store, served at ``GET /v1/namespaces/NS/queue`` and as the
``configurable_agents_capability_runs`` gauge."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.gateway.queue_load import Figures, answer, count
from agent_runtime.stores import RunStatus, open_store
from agent_runtime.stores.records import RunRecord
from tests.gateway.conftest import GatewayProcess
from tests.processes import stop

TWO_CAPABILITIES = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: research, namespace: team-a}
spec:
  state: {topic: {type: string}, notes: {type: string}, draft: {type: string}}
  input: [topic]
  output: [draft]
  models: {default: {provider: scripted, responses: ["done"]}}
  nodes:
    - {name: search, type: llm, capability: web-research, prompt: "{{ topic }}", output: notes}
    - {name: write, type: llm, prompt: "{{ notes }}", output: draft}
  edges:
    - {from: START, to: search}
    - {from: search, to: write}
    - {from: write, to: END}
"""


def _spec(namespace: str) -> dict[str, Any]:
    import yaml

    spec: dict[str, Any] = yaml.safe_load(TWO_CAPABILITIES)
    spec["metadata"]["namespace"] = namespace
    return spec


def _run(run_id: str, namespace: str, **changes: Any) -> RunRecord:
    return RunRecord(
        id=run_id,
        namespace=namespace,
        workflow="research",
        spec_hash=f"hash-{namespace}",
        spec=_spec(namespace),
        **changes,
    )


async def _figures(url: str) -> None:
    async with open_store(url) as store:
        # queued: two waiting for web-research in team-a, one for llm in team-b, one fresh
        # (not tried yet: counted under no capability)
        await store.create_run(_run("q1", "team-a", waiting_for="web-research"), enqueue=True)
        await store.create_run(_run("q2", "team-a", waiting_for="web-research"), enqueue=True)
        await store.create_run(_run("q3", "team-b", waiting_for="llm"), enqueue=True)
        await store.create_run(_run("q4", "team-a"), enqueue=True)
        # running: its Workflow uses both capabilities
        await store.create_run(_run("r1", "team-a"))
        await store.transition("r1", RunStatus.RUNNING)
        # finished: counted nowhere
        await store.create_run(_run("s1", "team-a"))
        await store.transition("s1", RunStatus.RUNNING)
        await store.transition("s1", RunStatus.SUCCEEDED)

        everywhere = await count(store)
        assert {k: v.model_dump() for k, v in everywhere.loads.items()} == {
            ("team-a", "web-research"): {"queued": 2, "running": 1},
            ("team-a", "llm"): {"queued": 0, "running": 1},
            ("team-b", "llm"): {"queued": 1, "running": 0},
        }
        assert not everywhere.truncated
        team_a = await count(store, ["team-a"])
        assert set(team_a.loads) == {("team-a", "web-research"), ("team-a", "llm")}
        body = answer(team_a, "team-a", ["web-research", "llm", "unused"])
        assert body == {
            "namespace": "team-a",
            "capabilities": {
                "web-research": {"queued": 2, "running": 1},
                "llm": {"queued": 0, "running": 1},
                "unused": {"queued": 0, "running": 0},
            },
            "queued": 2,
            "running": 2,
            "total": 4,
            "truncated": False,
        }
        # read at most once a ttl: a second ask within it is the same count
        figures = Figures(store, ttl=60)
        first = await figures.get("team-b")
        await store.create_run(_run("q5", "team-b", waiting_for="llm"), enqueue=True)
        assert (await figures.get("team-b")) is first
        assert (await Figures(store, ttl=0).get("team-b")).of("team-b", "llm").queued == 2


def test_figures_per_namespace_and_capability(sqlite_url: str) -> None:
    asyncio.run(_figures(sqlite_url))


WAITS_FOR_LLM = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: ask, namespace: default}
spec:
  state: {topic: {type: string}, answer: {type: string}}
  input: [topic]
  output: [answer]
  models: {default: {provider: scripted, responses: ["done"]}}
  nodes:
    - {name: think, type: llm, prompt: "{{ topic }}", output: answer}
  edges:
    - {from: START, to: think}
    - {from: think, to: END}
"""


def test_a_run_no_agent_serves_is_counted_queued_under_its_capability(
    tmp_path: Path, sqlite_url: str
) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "ask.yaml").write_text(WAITS_FOR_LLM)
    # agents serve another capability only: the run waits for one serving llm
    gateway = GatewayProcess(
        sqlite_url, tmp_path, "--agents", "other=http://127.0.0.1:9", workflows=folder
    )
    try:
        with gateway.client() as client:
            started = client.post("/v1/workflows/default/ask/runs", json={"input": {"topic": "x"}})
            assert started.status_code == 202, started.text
            run_id = started.json()["id"]

            deadline = time.monotonic() + 20
            while True:
                run = client.get(f"/v1/runs/{run_id}").json()
                figures = client.get("/v1/namespaces/default/queue", params={"capability": "llm"})
                assert figures.status_code == 200, figures.text
                if figures.json()["queued"] == 1:
                    break
                assert time.monotonic() < deadline, (run, figures.json())
                time.sleep(0.2)
            assert run["status"] == "queued"
            assert run["waitingFor"] == "llm"
            assert figures.json()["total"] == 1
            assert figures.json()["capabilities"] == {"llm": {"queued": 1, "running": 0}}

            metrics = client.get("/metrics").text
            line = (
                'configurable_agents_capability_runs{capability="llm",namespace="default",'
                'state="queued"} 1.0'
            )
            assert line in metrics

            # bad input names the field
            missing = client.get("/v1/namespaces/default/queue")
            assert missing.status_code == 422
            assert "capability" in missing.text
            bad = client.get("/v1/namespaces/Not_A_Namespace/queue", params={"capability": "llm"})
            assert bad.status_code == 422
            cancelled = client.post(f"/v1/runs/{run_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            time.sleep(1.1)  # past the figures' ttl
            answer_ = client.get("/v1/namespaces/default/queue", params={"capability": "llm"})
            assert answer_.json()["total"] == 0
    finally:
        stop(gateway.proc, signal.SIGTERM)


@pytest.mark.parametrize("path", ["/v1/namespaces/default/queue?capability=llm"])
def test_the_route_is_in_the_openapi_document(path: str, gateway: GatewayProcess) -> None:
    document = httpx.get(f"{gateway.url}/openapi.json", timeout=10).json()
    operation = document["paths"]["/v1/namespaces/{namespace}/queue"]["get"]
    assert operation["operationId"] == "getQueue"
    assert {"401", "403", "422"} <= set(operation["responses"])
    assert httpx.get(gateway.url + path, timeout=10).status_code == 200
