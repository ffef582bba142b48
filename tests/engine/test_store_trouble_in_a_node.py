"""A store that fails while a node runs (a Postgres restart under a delta's write, say) is the
store's trouble, not the node's: the run goes back to the queue and goes on from its last
checkpoint, without spending the node's attempts. The full-size chaos run found nodes without
retries failing whole runs this way."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.executors import NodeTask, TaskResult
from agent_runtime.stores import RunStatus, RunStore, StepRecord, StoreError
from tests.counting_tools import counts
from tests.engine.conftest import workflow

TWO = """
state: {first: {type: string}, second: {type: string}}
output: [first, second]
tools: [{name: mark, function: "tests.counting_tools:record"}]
nodes:
  - {name: one, type: tool, tool: mark, args: {label: one}, output: first}
  - {name: two, type: tool, tool: mark, args: {label: two}, output: second, retry: {maxAttempts: 1}}
edges: [{from: START, to: one}, {from: one, to: two}, {from: two, to: END}]
"""


class StoreFailsOnce(LocalDispatcher):
    """Raises the store's error in node ``two``'s first attempt, as a write there would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def dispatch(self, task: NodeTask, **kwargs: Any) -> TaskResult:
        if task.node == "two" and not self.failed:
            self.failed = True
            raise StoreError("consuming input failed: server closed the connection unexpectedly")
        return await super().dispatch(task, **kwargs)


async def test_the_run_goes_back_to_the_queue_and_on_from_its_checkpoint(
    store: RunStore, engine: Engine
) -> None:
    dispatcher = StoreFailsOnce()
    flaky = Engine(store, dispatcher, wait_backoff=0.0)
    try:
        record = await flaky.create_run(workflow(TWO), {})
        waiting = await flaky.execute(record.id)
        assert waiting.status == RunStatus.QUEUED, waiting.error
        done = await flaky.execute(record.id)
    finally:
        await dispatcher.aclose()
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output == {"first": "one", "second": "two"}
    assert counts() == {"one": 1, "two": 1}, "node one not run again: its step was checkpointed"
    steps = [(s.node, s.attempt, s.status.value) for s in await store.list_steps(record.id)]
    assert ("two", 1, "failed") not in steps, steps


CHARGE = """
state: {receipt: {type: string}}
output: [receipt]
tools: [{name: charge, function: "tests.counting_tools:slow_record", idempotent: false}]
nodes:
  - {name: pay, type: tool, tool: charge, args: {label: paid, seconds: 0.3}, output: receipt}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


async def test_a_call_made_once_is_not_made_again_after_the_store_failed_to_record_it(
    store: RunStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Postgres restart while the agent charged: the step's start, written meanwhile, failed,
    and the engine learns it once the agent has answered. The run goes back to the queue; its
    replay asks a person (the store cannot know the outcome) rather than charging again. The
    chaos run found 4 charges made twice this way."""
    record_step = store.record_step
    failed: list[StepRecord] = []

    async def fails_once(step: StepRecord, **kwargs: Any) -> Any:
        if step.node == "pay" and not failed:
            failed.append(step)
            raise StoreError("server closed the connection unexpectedly")
        return await record_step(step, **kwargs)

    monkeypatch.setattr(store, "record_step", fails_once)
    quick = Engine(store, engine.dispatcher, wait_backoff=0.0)
    record = await quick.create_run(workflow(CHARGE), {})
    queued = await quick.execute(record.id)
    assert failed and queued.status == RunStatus.QUEUED, queued.error
    assert counts() == {"paid": 1}
    asked = await quick.execute(record.id)
    assert counts() == {"paid": 1}, "charged again"
    assert asked.status == RunStatus.INTERRUPTED, asked.error
    assert (asked.interrupt or {}).get("reason") == "unknownOutcome", asked.interrupt
