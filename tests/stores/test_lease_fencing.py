"""Fencing (``stores/fencing.py``), on every backend: a process whose lease on a run was taken
over (or ran out) gets ``LeaseLost`` from its next write on the run made under the fence (a
step's commit, an event, a step record, a transition), nothing of it is stored, and it is not
tried again; the new holder's writes, and unfenced ones (a cancel from the API), go through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from agent_runtime.stores import (
    LeaseLost,
    RunEvent,
    RunStatus,
    RunStore,
    StepRecord,
    StepStatus,
    open_store,
)
from agent_runtime.stores.fencing import fenced
from agent_runtime.stores.retries import Faults
from tests.stores.helpers import make_run
from tests.stores.test_checkpoints import run_graph, thread

SHORT = 0.2  # seconds: what the first owner's lease is cut to, to run out during the test
OLD, NEW = "replica-old/1", "replica-new/2"


@pytest.fixture
async def other(store_url: str) -> AsyncIterator[RunStore]:
    """Another replica's store on the same backend."""
    async with open_store(store_url) as store:
        yield store


async def leased(store: RunStore, owner: str = OLD) -> str:
    """A running run whose lease ``owner`` claimed, as the engine starts one."""
    run = await store.create_run(make_run())
    claimed = await store.claim_run(owner=owner, ttl=30)
    assert claimed is not None and claimed.id == run.id
    with fenced(run.id, owner):
        await store.transition_and_emit(run.id, RunStatus.RUNNING, "run.started", {})
    return run.id


async def run_out(store: RunStore, run_id: str) -> None:
    """The first owner's lease runs out (cut short, then waited for: a busy machine's slowness
    cannot make it run out earlier, during the writes made while it holds)."""
    assert await store.renew_lease(run_id, owner=OLD, ttl=SHORT)
    await asyncio.sleep(SHORT + 0.1)


async def taken_over(store: RunStore, other: RunStore, run_id: str) -> None:
    """The first owner's lease runs out; then the other replica claims the run."""
    await run_out(store, run_id)
    claimed = await other.claim_run(owner=NEW, ttl=30)
    assert claimed is not None and claimed.id == run_id and claimed.lease_owner == NEW


async def seqs(store: RunStore, run_id: str) -> list[tuple[int, str]]:
    return [(e.seq, e.type) for e in await store.list_events(run_id)]


async def test_a_step_commit_after_a_takeover_is_refused(store: RunStore, other: RunStore) -> None:
    run_id = await leased(store)
    with fenced(run_id, OLD):
        await run_graph(store, run_id, "first")
    before = await store.checkpointer().aget_tuple(thread(run_id))
    assert before is not None
    await taken_over(store, other, run_id)
    events = await seqs(other, run_id)

    with fenced(run_id, OLD):
        done = StepRecord(run_id=run_id, node="first", status=StepStatus.SUCCEEDED)
        store.defer_step(run_id, done, ("node.finished", {"node": "first"}))
        with pytest.raises(LeaseLost):
            await run_graph(store, run_id, "second")
    store.drop_steps(run_id)  # what the engine does on LeaseLost

    after = await other.checkpointer().aget_tuple(thread(run_id))
    assert after is not None and after.config == before.config
    assert after.checkpoint["channel_values"] == before.checkpoint["channel_values"]
    assert await other.list_steps(run_id) == []
    assert await seqs(other, run_id) == events


async def test_an_event_and_a_step_record_after_a_takeover_are_refused(
    store: RunStore, other: RunStore
) -> None:
    run_id = await leased(store)
    with fenced(run_id, OLD):
        await store.append_event(run_id, "note", {"n": 1})
    await taken_over(store, other, run_id)

    with fenced(run_id, OLD):
        with pytest.raises(LeaseLost):
            await store.append_event(run_id, "note", {"n": 2})
        step = StepRecord(run_id=run_id, node="a")
        with pytest.raises(LeaseLost):
            await store.record_step(step, event=("node.started", {"node": "a"}))
        with pytest.raises(LeaseLost):
            await store.record_step(step)
    assert await other.list_steps(run_id) == []
    # the new holder goes on where the old one stopped: numbers without a gap
    with fenced(run_id, NEW):
        await other.append_event(run_id, "note", {"n": 3})
    assert await seqs(other, run_id) == [(1, "run.started"), (2, "note"), (3, "note")]
    assert [e.data["n"] for e in await other.list_events(run_id, after=1)] == [1, 3]


async def test_the_last_transition_after_a_takeover_is_refused(
    store: RunStore, other: RunStore
) -> None:
    run_id = await leased(store)
    await taken_over(store, other, run_id)
    with fenced(run_id, OLD):
        with pytest.raises(LeaseLost):
            await store.transition_and_emit(
                run_id, RunStatus.SUCCEEDED, "run.finished", {"status": "succeeded"}
            )
        with pytest.raises(LeaseLost):
            await store.transition(run_id, RunStatus.QUEUED, lease_owner=None)
    run = await other.get_run(run_id)
    assert (run.status, run.lease_owner) == (RunStatus.RUNNING, NEW)
    assert await seqs(other, run_id) == [(1, "run.started")]
    with fenced(run_id, NEW):
        done, event = await other.transition_and_emit(
            run_id, RunStatus.SUCCEEDED, "run.finished", {"status": "succeeded"}
        )
    assert done.status == RunStatus.SUCCEEDED and event.seq == 2


async def test_a_lease_that_ran_out_fences_before_anyone_takes_over(store: RunStore) -> None:
    run_id = await leased(store)
    await run_out(store, run_id)
    with fenced(run_id, OLD), pytest.raises(LeaseLost):
        await store.append_event(run_id, "note", {})
    # renewed in time (nobody claimed it), the lease fences nothing again
    assert await store.renew_lease(run_id, owner=OLD, ttl=30)
    with fenced(run_id, OLD):
        await store.append_event(run_id, "note", {})
    assert await seqs(store, run_id) == [(1, "run.started"), (2, "note")]


async def test_unfenced_writes_go_through_and_a_cancel_fences_the_holder(
    store: RunStore, other: RunStore
) -> None:
    run_id = await leased(store)
    # another replica's API (no fence) answers for the run while this one executes it
    await other.append_event(run_id, "note", {})
    await other.transition(run_id, RunStatus.CANCELLED)
    await other.append_event(run_id, "run.finished", {"status": "cancelled"})
    with fenced(run_id, OLD):
        with pytest.raises(LeaseLost):
            await store.record_step(StepRecord(run_id=run_id, node="a"), event=("x", {}))
        with pytest.raises(LeaseLost):
            await run_graph(store, run_id)
    store.drop_steps(run_id)
    events: list[RunEvent] = await other.list_events(run_id)
    assert [e.type for e in events] == ["run.started", "note", "run.finished"]
    assert await other.checkpointer().aget_tuple(thread(run_id)) is None


@dataclass
class Calls(Faults):
    """Fails nothing; notes each call the retry layer makes (each try of it)."""

    rate: float = 0.0
    made: list[str] = field(default_factory=list)

    def check(self, call: str) -> None:
        self.made.append(call)


async def test_a_refused_write_is_not_sent_again(store: RunStore, other: RunStore) -> None:
    run_id = await leased(store)
    await taken_over(store, other, run_id)
    calls = Calls()
    store._faults = store.checkpointer()._faults = calls  # type: ignore[attr-defined]
    with fenced(run_id, OLD):
        with pytest.raises(LeaseLost):
            await store.append_event(run_id, "note", {})
        with pytest.raises(LeaseLost):
            await store.transition(run_id, RunStatus.FAILED)
        with pytest.raises(LeaseLost):
            await run_graph(store, run_id)
    store.drop_steps(run_id)
    assert [c for c in calls.made if c != "_read_one"] == [
        "append_event",
        "transition",
        "_write_step",
    ]
