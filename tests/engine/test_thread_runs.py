"""Runs on a thread through the engine, on every store: each starts from the state the last one
left; a run waiting at a human node holds the thread until answered; a failed or cancelled run
leaves what it got to (its last checkpoint), the thread in ``error`` or ``idle``."""

from __future__ import annotations

import pytest

from agent_runtime.engine import Engine
from agent_runtime.stores import RunStatus
from agent_runtime.stores.errors import ThreadConflict
from agent_runtime.stores.records import ThreadRecord, ThreadStatus
from tests.engine.conftest import workflow

ASKING = workflow(
    """
state:
  topic: {type: string}
  log: {type: array, items: {type: string}, reducer: append}
  approved: {type: boolean}
input: [topic]
output: [log, approved]
tools:
  - {name: record, function: "tests.counting_tools:record"}
nodes:
  - {name: note, type: tool, tool: record, args: {label: "{{ topic }}"}, output: log}
  - {name: ask, type: human, prompt: "ok?", output: {approved: {type: boolean}}}
edges:
  - {from: START, to: note}
  - {from: note, to: ask}
  - {from: ask, to: END}
""",
    name="asking",
)
FAILING = workflow(
    """
state:
  topic: {type: string}
  log: {type: array, items: {type: string}, reducer: append}
input: [topic]
output: [log]
tools:
  - {name: record, function: "tests.counting_tools:record"}
  - {name: broken, function: "tests.counting_tools:flaky"}
nodes:
  - {name: note, type: tool, tool: record, args: {label: "{{ topic }}"}, output: log}
  - name: boom
    type: tool
    tool: broken
    args: {label: "boom-{{ topic }}", failures: 99}
    output: log
    retry: {maxAttempts: 1}
edges:
  - {from: START, to: note}
  - {from: note, to: boom}
  - {from: boom, to: END}
""",
    name="failing",
)


async def test_a_waiting_run_holds_its_thread_and_a_cancel_keeps_its_progress(
    engine: Engine,
) -> None:
    store = engine.store
    await store.create_thread(ThreadRecord(id="t"))
    first = await engine.create_run(ASKING, {"topic": "one"}, thread_id="t")
    assert (await engine.execute(first.id)).status == RunStatus.INTERRUPTED
    waiting = await store.get_thread("t")
    assert (waiting.status, waiting.values["log"], waiting.active_run_id) == (
        ThreadStatus.INTERRUPTED,
        ["one"],
        first.id,
    )
    with pytest.raises(ThreadConflict):
        await engine.create_run(ASKING, {"topic": "two"}, thread_id="t")
    done = await engine.resume(first.id, {"approved": True})
    assert done.status == RunStatus.SUCCEEDED
    after = await store.get_thread("t")
    assert (after.status, after.values["log"], after.values["approved"]) == (
        ThreadStatus.IDLE,
        ["one"],
        True,
    )
    second = await engine.create_run(ASKING, {"topic": "two"}, thread_id="t")
    assert (await engine.execute(second.id)).output is None  # waits again
    await engine.cancel(second.id)
    cancelled = await store.get_thread("t")
    assert (cancelled.status, cancelled.values["log"], cancelled.last_run_id) == (
        ThreadStatus.IDLE,
        ["one", "two"],
        second.id,
    )
    third = await engine.create_run(ASKING, {"topic": "three"}, thread_id="t")
    await engine.execute(third.id)
    assert (await store.get_thread("t")).values["log"] == ["one", "two", "three"]


async def test_a_failed_run_leaves_its_progress_and_the_thread_in_error(engine: Engine) -> None:
    store = engine.store
    await store.create_thread(ThreadRecord(id="f"))
    run = await engine.create_run(FAILING, {"topic": "a"}, thread_id="f")
    assert (await engine.execute(run.id)).status == RunStatus.FAILED
    failed = await store.get_thread("f")
    assert (failed.status, failed.values["log"], failed.active_run_id) == (
        ThreadStatus.ERROR,
        ["a"],
        None,
    )
    again = await engine.create_run(FAILING, {"topic": "b"}, thread_id="f")  # not stuck
    assert (await engine.execute(again.id)).status == RunStatus.FAILED
    assert (await store.get_thread("f")).values["log"] == ["a", "b"]
