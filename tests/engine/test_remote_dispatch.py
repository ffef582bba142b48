"""HttpDispatcher against real agent processes: round robin, passing on, failures, a whole run."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_runtime.engine import Engine
from agent_runtime.engine.remote import (
    TRACEPARENT,
    AgentsUnavailable,
    HttpDispatcher,
    NoEndpoints,
    StaticEndpoints,
)
from agent_runtime.executors import AgentLost, NodeTask, PermanentTaskError, TaskError
from agent_runtime.spec import load_file
from agent_runtime.spec.workflow import Workflow
from agent_runtime.stores import RunStatus, open_store
from tests.agent.harness import AgentProcess, agents, llm_task
from tests.conftest import EXAMPLES


def task(run_id: str, **extra: object) -> NodeTask:
    return NodeTask.model_validate(llm_task(run_id, **extra))


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[AgentProcess]]:
    with agents(tmp_path_factory.mktemp("trio"), 3, max_concurrent_tasks=1) as started:
        yield started


def dispatcher_for(*group: AgentProcess, capability: str = "llm") -> HttpDispatcher:
    return HttpDispatcher(StaticEndpoints({capability: [a.url for a in group]}))


@pytest.fixture
async def dispatcher(trio: list[AgentProcess]) -> AsyncIterator[HttpDispatcher]:
    d = dispatcher_for(*trio)
    yield d
    await d.aclose()


async def test_round_robin_spreads_tasks(
    dispatcher: HttpDispatcher, trio: list[AgentProcess]
) -> None:
    before = [a.tasks_done() for a in trio]
    for i in range(9):
        result = await dispatcher.dispatch(task(f"run-rr-{i}"))
        assert result.output == f"done: run-rr-{i}"
    assert [a.tasks_done() - b for a, b in zip(trio, before, strict=True)] == [3, 3, 3]


async def test_a_busy_agent_passes_the_task_on(
    dispatcher: HttpDispatcher, trio: list[AgentProcess]
) -> None:
    busy = "configurable_agents_agent_tasks_rejected_total"
    first = trio[0]
    others = trio[1:]
    before = [a.tasks_done() for a in others]
    refused_before = first.metric(busy, reason="busy")
    # A fresh dispatcher asks the first agent first; keep that one saturated (limit 1).
    saturating = dispatcher_for(first)
    try:
        slow = asyncio.create_task(saturating.dispatch(task("run-saturate", delay="1s")))
        await first.wait_in_flight(1)
        fresh = dispatcher_for(*trio)
        try:
            result = await fresh.dispatch(task("run-passed-on"))
        finally:
            await fresh.aclose()
        assert result.output == "done: run-passed-on"
        assert first.metric(busy, reason="busy") == refused_before + 1
        assert sum(a.tasks_done() - b for a, b in zip(others, before, strict=True)) == 1

        with pytest.raises(AgentsUnavailable, match="busy") as caught:
            await saturating.dispatch(task("run-nowhere"))
        assert not isinstance(caught.value, PermanentTaskError), "busy agents are retryable"
        assert caught.value.retry_after == 1.0  # the agent's Retry-After (its default)
        assert (await slow).output == "done: run-saturate"
    finally:
        await saturating.aclose()


async def test_errors_map_back_to_task_errors(dispatcher: HttpDispatcher) -> None:
    with pytest.raises(PermanentTaskError, match=r"^a tool task names no tool$"):
        await dispatcher.dispatch(
            NodeTask(run_id="run-e", workflow="t", node="n", type="tool", capability="llm")
        )
    looping = task("run-loop", maxToolRounds=0)
    assert looping.model is not None
    looping = looping.model_copy(
        update={
            "model": looping.model.model_copy(
                update={"responses": [{"toolCalls": [{"name": "x", "args": {}}]}]}
            )
        }
    )
    with pytest.raises(TaskError, match="maxToolRounds") as caught:
        await dispatcher.dispatch(looping)
    assert not isinstance(caught.value, PermanentTaskError)
    refused = HttpDispatcher(StaticEndpoints({"gpu": [dispatcher_url(dispatcher)]}))
    try:
        with pytest.raises(PermanentTaskError, match="409 capability_not_served"):
            await refused.dispatch(task("run-gpu", capability="gpu"))
    finally:
        await refused.aclose()


async def test_an_agent_stops_a_task_at_the_nodes_timeout(
    dispatcher: HttpDispatcher, trio: list[AgentProcess]
) -> None:
    """The engine stops waiting at the node's timeout; the agent stops the task too, so its
    slot is free again at once rather than when the model would have answered."""
    began = asyncio.get_running_loop().time()
    with pytest.raises(TaskError, match=r"timed out after 0.2s") as caught:
        await dispatcher.dispatch(task("run-slow", delay="5s", timeout=0.2))
    assert not isinstance(caught.value, PermanentTaskError), "a timeout is retryable"
    assert asyncio.get_running_loop().time() - began < 2
    for agent in trio:
        await agent.wait_in_flight(0)


def dispatcher_url(dispatcher: HttpDispatcher) -> str:
    return dispatcher.endpoints.endpoints("llm")[0]


async def test_no_endpoints_is_a_retryable_no_endpoints() -> None:
    dispatcher = HttpDispatcher(StaticEndpoints({"llm": []}))
    try:
        with pytest.raises(NoEndpoints) as caught:
            await dispatcher.dispatch(task("run-none", capability="web-research"))
    finally:
        await dispatcher.aclose()
    assert isinstance(caught.value, TaskError)
    assert not isinstance(caught.value, PermanentTaskError)
    assert caught.value.capability == "web-research"


async def test_traceparent_reaches_the_agent(
    dispatcher: HttpDispatcher, trio: list[AgentProcess]
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    token = TRACEPARENT.set(f"00-{trace_id}-00f067aa0ba902b7-01")
    try:
        await dispatcher.dispatch(task("run-traced"))
    finally:
        TRACEPARENT.reset(token)
    lines = [
        json.loads(line) for a in trio for line in a.log().splitlines() if "run-traced" in line
    ]
    assert [line["trace_id"] for line in lines] == [trace_id]


async def test_a_killed_agent_gets_no_more_tasks(tmp_path: Path) -> None:
    with agents(tmp_path, 3, max_concurrent_tasks=4) as group:
        victim, *survivors = group
        dispatcher = dispatcher_for(*group)
        only_victim = dispatcher_for(victim)
        try:
            for i in range(3):  # every agent holds a keep-alive connection now
                await dispatcher.dispatch(task(f"run-warm-{i}"))
            in_flight = asyncio.create_task(only_victim.dispatch(task("run-cut", delay="2s")))
            await victim.wait_in_flight(1)
            victim.signal(signal.SIGKILL)
            victim.proc.wait(5)
            with pytest.raises(AgentLost, match="went away during the task") as caught:
                await in_flight  # its outcome unknown: the engine decides whether to resend
            assert not isinstance(caught.value, PermanentTaskError)

            before = [a.tasks_done() for a in survivors]
            results = await asyncio.gather(
                *(dispatcher.dispatch(task(f"run-k-{i}")) for i in range(8))
            )
            assert [r.output for r in results] == [f"done: run-k-{i}" for i in range(8)]
            assert sum(a.tasks_done() - b for a, b in zip(survivors, before, strict=True)) == 8
        finally:
            await dispatcher.aclose()
            await only_victim.aclose()


async def test_the_fan_out_example_runs_on_two_agents(sqlite_url: str, tmp_path: Path) -> None:
    (workflow,) = [
        r
        for r in load_file(EXAMPLES / "03-parallel-fan-out" / "workflow.yaml")
        if isinstance(r, Workflow)
    ]
    with agents(tmp_path, 2, capabilities=["llm", "web-research"], max_concurrent_tasks=4) as pair:
        urls = [a.url for a in pair]
        dispatcher = HttpDispatcher(StaticEndpoints({"llm": urls, "web-research": urls}))
        try:
            async with open_store(sqlite_url) as store:
                engine = Engine(store, dispatcher)
                record = await engine.create_run(workflow, {"topic": "agents"})
                done = await engine.execute(record.id)
        finally:
            await dispatcher.aclose()
        assert done.status == RunStatus.SUCCEEDED, done.error
        assert sorted(done.output["findings"]) == [
            "news: agents move to Kubernetes",
            "papers: checkpointing cuts recovery time",
            "web: durable execution is mainstream",
        ]
        assert done.output["coverage"] == {"web": 1, "papers": 1, "news": 1}
        assert done.output["summary"].startswith("Three sources agree")
        executed = [a.tasks_done() for a in pair]
        assert sum(executed) == 5
        assert all(n > 0 for n in executed), executed


async def test_a_draining_agent_passes_the_task_on(tmp_path: Path) -> None:
    with agents(tmp_path, 2, max_concurrent_tasks=2) as (draining, other):
        only_draining = dispatcher_for(draining)
        fresh = dispatcher_for(draining, other)  # asks the draining one first
        try:
            slow = asyncio.create_task(only_draining.dispatch(task("run-last", delay="1s")))
            await draining.wait_in_flight(1)
            draining.signal(signal.SIGTERM)
            await draining.wait_draining()
            result = await fresh.dispatch(task("run-elsewhere"))
            assert result.output == "done: run-elsewhere"
            assert other.tasks_done() == 1
            assert (await slow).output == "done: run-last"
        finally:
            await fresh.aclose()
            await only_draining.aclose()
        assert await asyncio.to_thread(draining.proc.wait, 10) == 0
