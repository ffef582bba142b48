"""The agent server as a real process: results, limits, idempotency, errors, metrics and drain."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.harness import AgentProcess, agents, counts, llm_task


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    with agents(
        tmp_path_factory.mktemp("agent"), 1, capabilities=["llm", "tools"], max_concurrent_tasks=2
    ) as started:
        yield started[0]


@pytest.fixture
async def client(agent: AgentProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=agent.url, timeout=10) as c:
        yield c


def tool_task(run_id: str, label: str, *, seconds: float = 0.5, attempt: int = 1) -> dict[str, Any]:
    return {
        "runId": run_id,
        "workflow": "t",
        "node": "count",
        "type": "tool",
        "capability": "tools",
        "attempt": attempt,
        "tool": {"name": "slow_record", "function": "tests.counting_tools:slow_record"},
        "args": {"label": label, "seconds": seconds},
    }


async def test_result_carries_output_and_usage(client: httpx.AsyncClient) -> None:
    task = llm_task("run-shape", prompt="three words here")
    task["model"]["responses"] = ["a short answer"]
    response = await client.post("/v1/tasks", json=task)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "output": "a short answer",
        "usage": {"inputTokens": 3, "outputTokens": 3},
        "toolCalls": 0,
        "paused": None,
        "messages": [],  # only a task whose node appends to a messages field returns them
        "childTasks": [],  # only calls of a2a tools start tasks on remote agents
    }


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["maxConcurrentTasks"] == 2


async def test_beyond_the_limit_one_task_is_refused_at_once(client: httpx.AsyncClient) -> None:
    async def timed(i: int) -> tuple[httpx.Response, float]:
        start = time.monotonic()
        response = await client.post("/v1/tasks", json=llm_task(f"run-busy-{i}", delay="500ms"))
        return response, time.monotonic() - start

    answers = await asyncio.gather(*(timed(i) for i in range(3)))
    statuses = sorted(r.status_code for r, _ in answers)
    assert statuses == [200, 200, 429]
    refused, took = next((r, t) for r, t in answers if r.status_code == 429)
    assert took < 0.4, "a 429 comes at once, it does not queue"
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "busy"


async def test_a_duplicate_key_executes_once(
    client: httpx.AsyncClient, agent: AgentProcess
) -> None:
    task = tool_task("run-dup", "dup")
    first, second = await asyncio.gather(
        client.post("/v1/tasks", json=task), client.post("/v1/tasks", json=task)
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert (
        first.json()
        == second.json()
        == {
            "output": "dup",
            "usage": {"inputTokens": 0, "outputTokens": 0},
            "toolCalls": 1,
            "paused": None,
            "messages": [],
            "childTasks": [],
        }
    )
    assert counts(agent.counter_dir)["dup"] == 1

    again = await client.post("/v1/tasks", json=task)  # finished recently: from the cache
    assert again.json() == first.json()
    assert counts(agent.counter_dir)["dup"] == 1

    retry = await client.post("/v1/tasks", json=tool_task("run-dup", "dup", attempt=2))
    assert retry.status_code == 200
    assert counts(agent.counter_dir)["dup"] == 2, "another attempt is another key"
    deduplicated = "configurable_agents_agent_tasks_deduplicated_total"
    assert agent.metric(deduplicated, source="in_flight") == 1
    assert agent.metric(deduplicated, source="cached") == 1


async def test_a_capability_not_served_is_409(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/tasks", json=llm_task("run-cap", capability="gpu"))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "capability_not_served"
    assert "'gpu'" in error["message"]
    assert error["details"] == {"capability": "gpu", "served": ["llm", "tools"]}


async def test_a_bad_body_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    task = llm_task("run-bad")
    del task["runId"]
    task["model"]["provider"] = "nope"
    response = await client.post("/v1/tasks", json=task)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert [p["field"] for p in error["details"]] == ["runId", "model.provider"]
    assert "runId: Field required" in error["message"]

    broken = await client.post(
        "/v1/tasks", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["details"][0]["field"] == "body"
    assert "Traceback" not in response.text + broken.text


async def test_task_errors_keep_their_kind(client: httpx.AsyncClient) -> None:
    permanent = await client.post("/v1/tasks", json={**tool_task("run-p", "p"), "tool": None})
    assert permanent.status_code == 422
    assert permanent.json() == {
        "error": {"code": "task_permanent", "message": "a tool task names no tool"}
    }

    looping = llm_task("run-f", maxToolRounds=0)
    looping["model"]["responses"] = [{"toolCalls": [{"name": "x", "args": {}}]}]
    failed = await client.post("/v1/tasks", json=looping)
    assert failed.status_code == 503
    assert failed.headers["x-retryable"] == "true"
    assert failed.json()["error"]["code"] == "task_failed"
    assert "maxToolRounds" in failed.json()["error"]["message"]

    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


async def test_metrics_have_bounded_labels(client: httpx.AsyncClient, agent: AgentProcess) -> None:
    await client.post("/v1/tasks", json=llm_task("run-metrics"))
    assert agent.metric("configurable_agents_agent_tasks_total", node_type="llm") >= 1
    assert agent.metric("configurable_agents_agent_task_duration_seconds_count") >= 1
    assert agent.metric("configurable_agents_agent_tasks_in_flight") == 0
    text = (await client.get("/metrics")).text
    assert "run-metrics" not in text and "run_id" not in text


async def test_sigterm_drains_then_exits_0(tmp_path: Path) -> None:
    with agents(tmp_path, 1, max_concurrent_tasks=2) as (agent,):
        async with httpx.AsyncClient(base_url=agent.url, timeout=10) as client:
            slow = asyncio.create_task(
                client.post("/v1/tasks", json=llm_task("run-slow", delay="1s"))
            )
            await agent.wait_in_flight(1)
            agent.signal(signal.SIGTERM)
            ready = await agent.readyz_until(lambda r: r.status_code != 200)
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "draining"

            refused = await client.post("/v1/tasks", json=llm_task("run-late"))
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "draining"
            assert "x-retryable" not in refused.headers

            finished = await slow
            assert finished.status_code == 200
            assert finished.json()["output"] == "done: run-slow"
        assert await asyncio.to_thread(agent.proc.wait, 10) == 0
        assert "drained; shutting down" in agent.log()
