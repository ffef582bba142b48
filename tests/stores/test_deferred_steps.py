"""Steps the engine hands over to ride with the next checkpoint commit (``defer_step``): written
by ``flush_steps``, forgotten unwritten by ``drop_steps`` (a process that lost the run's lease)."""

from __future__ import annotations

import pytest

from agent_runtime.stores import RunStatus, RunStore, StepRecord, StepStatus
from tests.stores.helpers import make_run


@pytest.fixture
async def running(store: RunStore) -> str:
    if not store.defers_steps:
        pytest.skip("this store writes steps at once")
    await store.create_run(make_run("r"))
    await store.transition("r", RunStatus.RUNNING)
    return "r"


async def test_deferred_steps_are_written_by_a_flush(store: RunStore, running: str) -> None:
    step = StepRecord(run_id=running, node="a", status=StepStatus.SUCCEEDED)
    pending = store.defer_step(running, step, ("node.finished", {"node": "a"}))
    assert pending.seq == 0  # numbered when written
    await store.flush_steps(running)
    assert [(s.node, s.status) for s in await store.list_steps(running)] == [
        ("a", StepStatus.SUCCEEDED)
    ]
    assert [e.type for e in await store.list_events(running)] == ["node.finished"]


async def test_dropped_steps_are_never_written(store: RunStore, running: str) -> None:
    step = StepRecord(run_id=running, node="a", status=StepStatus.SUCCEEDED)
    store.defer_step(running, step, ("node.finished", {"node": "a"}))
    store.drop_steps(running)
    await store.flush_steps(running)
    later = StepRecord(run_id=running, node="b", status=StepStatus.SUCCEEDED)
    store.defer_step(running, later, ("node.finished", {"node": "b"}))
    await store.flush_steps(running)
    assert [s.node for s in await store.list_steps(running)] == ["b"]
    assert [(e.seq, e.data["node"]) for e in await store.list_events(running)] == [(1, "b")]
