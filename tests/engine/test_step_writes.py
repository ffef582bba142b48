"""What a durable step writes: on Postgres one transaction a step, with its record and events;
on every store the same events in the same order, and a slow node shows as running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.engine.context import STARTED_WRITE_DELAY
from agent_runtime.stores import RunStatus, RunStore, StepStatus, open_store
from tests.engine.conftest import workflow

CHAIN = """
state: {topic: {type: string}, a: {type: string}, b: {type: string}, c: {type: string}}
input: [topic]
output: [c]
models: {default: {provider: scripted, responses: ["ok"], delay: %s}}
nodes:
  - {name: a, type: llm, prompt: "a {{ topic }}", output: a}
  - {name: b, type: llm, prompt: "b {{ a }}", output: b}
  - {name: c, type: llm, prompt: "c {{ b }}", output: c}
edges: [{from: START, to: a}, {from: a, to: b}, {from: b, to: c}, {from: c, to: END}]
"""


@pytest.fixture
async def engine(store: RunStore) -> AsyncIterator[Engine]:
    dispatcher = LocalDispatcher()
    yield Engine(store, dispatcher)
    await dispatcher.aclose()


def _xact(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()
    assert row is not None
    return int(row[0])


async def test_every_step_is_one_transaction_on_postgres(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 nodes: 3 step commits, plus creating the run, starting it, LangGraph's first step
    (its input task) and finishing: 7, where each record, event and checkpoint written
    alone cost 20. (Nodes count as fast however loaded the machine is.)"""
    monkeypatch.setattr("agent_runtime.engine.context.STARTED_WRITE_DELAY", 60.0)
    async with open_store(postgres_url) as store:
        dispatcher = LocalDispatcher()
        engine = Engine(store, dispatcher)
        wf = workflow(CHAIN % "0s")
        await engine.execute((await engine.create_run(wf, {"topic": "t"})).id)  # warm
        before = _xact(postgres_url)
        record = await engine.create_run(wf, {"topic": "t"})
        done = await engine.execute(record.id)
        written = _xact(postgres_url) - before - 1  # the probe itself takes one id
        await dispatcher.aclose()
        assert done.status == RunStatus.SUCCEEDED and done.output == {"c": "ok"}
        assert written == 7, written
        steps = await store.list_steps(record.id)
        assert [(s.node, s.status) for s in steps] == [
            (n, StepStatus.SUCCEEDED) for n in ("a", "b", "c")
        ]


async def test_events_are_numbered_in_order_with_every_start(engine: Engine) -> None:
    wf = workflow(CHAIN % "0s")
    record = await engine.create_run(wf, {"topic": "t"})
    await engine.execute(record.id)
    events = await engine.store.list_events(record.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [(e.type, e.data.get("node")) for e in events]
    assert kinds == [
        ("run.started", None),
        *[(kind, node) for node in "abc" for kind in ("node.started", "node.finished")],
        ("run.finished", None),
    ]


async def test_a_slow_node_shows_as_running_while_it_runs(engine: Engine) -> None:
    wf = workflow(CHAIN % "400ms")
    record = await engine.create_run(wf, {"topic": "t"})
    task = asyncio.create_task(engine.execute(record.id))
    seen: list[StepStatus] = []
    deadline = asyncio.get_running_loop().time() + 5
    while not seen and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(STARTED_WRITE_DELAY)
        seen = [s.status for s in await engine.store.list_steps(record.id)]
    events = [e.type for e in await engine.store.list_events(record.id)]
    assert seen == [StepStatus.RUNNING], seen
    assert events == ["run.started", "node.started"]
    done = await task
    assert done.status == RunStatus.SUCCEEDED


async def test_a_cancel_stops_the_run_before_its_next_node(engine: Engine) -> None:
    wf = workflow(CHAIN % "300ms")
    record = await engine.create_run(wf, {"topic": "t"})
    started = asyncio.Event()
    task = asyncio.create_task(engine.execute(record.id, listeners=[lambda e: started.set()]))
    await started.wait()  # run.started
    await asyncio.sleep(0.05)  # into node a
    await engine.cancel(record.id)
    done = await task
    assert done.status == RunStatus.CANCELLED
    nodes = {s.node for s in await engine.store.list_steps(record.id)}
    assert nodes <= {"a", "b"}, nodes  # a cancel seen in a's commit stops before b at the latest
