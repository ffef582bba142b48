"""A gateway's worker never executes one run twice at once. Its own lease on a run may lapse
while the store is down (renewals fail, the execution goes on), and the run be claimed again by
the same process once the store is back: both executions would write as the same owner, which
fencing cannot tell apart. The full-size chaos run found one run failed this way."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.gateway.worker import RunWorker
from agent_runtime.stores import RunStatus, RunStore
from tests.counting_tools import counts
from tests.engine.conftest import workflow

SLOW = """
state: {out: {type: string}}
output: [out]
tools: [{name: work, function: "tests.counting_tools:slow_record"}]
nodes:
  - {name: work, type: tool, tool: work, args: {label: worked, seconds: 1.5}, output: out}
edges: [{from: START, to: work}, {from: work, to: END}]
"""


async def test_a_run_claimed_again_by_its_own_process_is_not_executed_twice(
    store: RunStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))
    dispatcher = LocalDispatcher()
    engine = Engine(store, dispatcher)
    worker = RunWorker(engine, concurrency=2, poll_interval=0.05)
    record = await engine.create_run(workflow(SLOW), {})
    worker.start()
    try:
        async with asyncio.timeout(10):
            while counts() != {"worked": 1}:  # noqa: ASYNC110 - polls a file: the node is under way
                await asyncio.sleep(0.02)
        # its lease lapses (as when renewals cannot reach the store), and the worker polls
        assert await store.renew_lease(record.id, owner=engine.owner, ttl=-5)
        worker.wake()
        async with asyncio.timeout(40):
            while (run := await store.get_run(record.id)).status != RunStatus.SUCCEEDED:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    finally:
        await worker.stop()
        await dispatcher.aclose()
    assert run.output == {"out": "worked"}
    assert counts() == {"worked": 1}, "executed twice"
    starts = [e for e in await store.list_events(record.id) if e.type == "run.started"]
    assert len(starts) == 1
