"""A task answered as it is written (``Accept: application/x-ndjson``), by a real agent process,
read raw and through ``HttpDispatcher``: pieces before the result, the same refusals and
errors as the JSON answers, duplicates answered once, and a stream cut mid-task."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.engine.remote import AgentsUnavailable, HttpDispatcher, StaticEndpoints
from agent_runtime.executors import (
    AgentLost,
    NodeTask,
    PermanentTaskError,
    TaskDelta,
    TaskError,
)
from tests.agent.harness import AgentProcess, agents, llm_task

NDJSON = {"accept": "application/x-ndjson"}
ANSWER = " ".join(f"w{i}" for i in range(20))


def streaming_task(run_id: str, delay: str = "0.4s", **extra: Any) -> dict[str, Any]:
    task = llm_task(run_id, delay=delay, **extra)
    task["model"]["responses"] = [ANSWER]
    return task


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProcess]:
    with agents(tmp_path_factory.mktemp("stream"), 1, max_concurrent_tasks=2) as (one,):
        yield one


async def test_the_stream_is_pieces_then_the_result(agent: AgentProcess) -> None:
    loop = asyncio.get_running_loop()
    timed: list[tuple[float, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream(
            "POST", f"{agent.url}/v1/tasks", json=streaming_task("run-raw"), headers=NDJSON
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        async for line in response.aiter_lines():
            timed.append((loop.time(), json.loads(line)))
        plain = await client.post(
            f"{agent.url}/v1/tasks", json=streaming_task("run-plain", "0s"), timeout=10
        )
    *pieces, (end, last) = timed
    assert [set(p) for _, p in pieces] == [{"delta"}] * len(pieces)
    assert "".join(p["delta"]["text"] for _, p in pieces) == ANSWER
    assert {p["delta"]["message"] for _, p in pieces} == {0}
    assert len(pieces) == 20  # the agent sends each piece: the engine batches what it writes
    assert last["result"]["output"] == ANSWER
    assert end - pieces[0][0] > 0.2, "the pieces came as written, not all at the end"
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["output"] == ANSWER


async def test_the_dispatcher_relays_pieces_as_they_come(agent: AgentProcess) -> None:
    dispatcher = HttpDispatcher(StaticEndpoints({"llm": [agent.url]}))
    loop = asyncio.get_running_loop()
    heard: list[tuple[float, TaskDelta]] = []

    async def on_delta(delta: TaskDelta) -> None:
        heard.append((loop.time(), delta))

    try:
        task = NodeTask.model_validate(streaming_task("run-relayed"))
        result = await dispatcher.dispatch(task, on_delta=on_delta)
        done = loop.time()
        assert result.output == ANSWER
        assert "".join(d.text for _, d in heard) == ANSWER
        assert done - heard[0][0] > 0.2

        # a duplicate of the key (the engine sending it again) is answered once, without pieces
        again: list[TaskDelta] = []

        async def more(delta: TaskDelta) -> None:
            again.append(delta)

        assert (await dispatcher.dispatch(task, on_delta=more)).output == ANSWER
        assert again == []
    finally:
        await dispatcher.aclose()


async def test_streamed_errors_and_refusals_map_as_without_the_stream(
    agent: AgentProcess,
) -> None:
    dispatcher = HttpDispatcher(StaticEndpoints({"llm": [agent.url]}))

    async def ignore(_: TaskDelta) -> None:
        return None

    try:
        looping = NodeTask.model_validate(
            llm_task(
                "run-loop",
                maxToolRounds=0,
                model={"provider": "scripted", "responses": [{"toolCalls": [{"name": "x"}]}]},
            )
        )
        with pytest.raises(TaskError, match="maxToolRounds") as caught:
            await dispatcher.dispatch(looping, on_delta=ignore)
        assert not isinstance(caught.value, PermanentTaskError)
        unnamed = NodeTask(run_id="run-e", workflow="t", node="n", type="llm")
        with pytest.raises(PermanentTaskError, match="names no model"):
            await dispatcher.dispatch(unnamed, on_delta=ignore)

        # at maxConcurrentTasks (2) the agent answers 429 before streaming anything
        slow = [
            asyncio.create_task(
                dispatcher.dispatch(NodeTask.model_validate(streaming_task(f"run-s{i}", "1s")))
            )
            for i in range(2)
        ]
        await agent.wait_in_flight(2)
        with pytest.raises(AgentsUnavailable, match="busy"):
            await dispatcher.dispatch(
                NodeTask.model_validate(streaming_task("run-refused")), on_delta=ignore
            )
        assert [(await s).output for s in slow] == [ANSWER, ANSWER]
    finally:
        await dispatcher.aclose()


async def test_a_stream_cut_mid_task_is_an_agent_lost(tmp_path: Path) -> None:
    with agents(tmp_path, 1) as (victim,):
        dispatcher = HttpDispatcher(StaticEndpoints({"llm": [victim.url]}))
        heard: list[TaskDelta] = []
        first = asyncio.Event()

        async def on_delta(delta: TaskDelta) -> None:
            heard.append(delta)
            first.set()

        try:
            task = NodeTask.model_validate(streaming_task("run-cut", "3s"))
            in_flight = asyncio.create_task(dispatcher.dispatch(task, on_delta=on_delta))
            await asyncio.wait_for(first.wait(), 10)
            victim.signal(signal.SIGKILL)
            victim.proc.wait(5)
            with pytest.raises(AgentLost, match=r"went away|without its result"):
                await in_flight
            assert 0 < len(heard) < 20
        finally:
            await dispatcher.aclose()
