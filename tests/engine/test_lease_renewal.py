"""Keeping a run's lease (``engine/leases.py``): a store that cannot be reached for a moment does
not stop the run; one that cannot be reached until the lease has run out does, and what the
process still held for the run is then dropped, never written. A run whose lease another process
took while this one was in the middle of a step (paused past the lease's end) stops at that
step's commit, which the store refuses (fencing), writing nothing more."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent_runtime.engine import Engine, LocalDispatcher, RunError
from agent_runtime.engine.context import RunContext, early
from agent_runtime.engine.leases import LeaseRenewal
from agent_runtime.stores import RunStatus, RunStore, StepRecord, StoreError, open_store
from agent_runtime.stores.records import utcnow
from tests.counting_tools import counts
from tests.engine.conftest import workflow
from tests.stores.helpers import make_run

TTL = 0.3


class Unreachable:
    """Makes ``renew_lease`` fail while ``down`` is set."""

    def __init__(self, store: RunStore) -> None:
        self.down = False
        self.tried = self.failed = 0
        renew = store.renew_lease

        async def renew_lease(run_id: str, *, owner: str, ttl: float) -> bool:
            self.tried += 1
            if self.down:
                self.failed += 1
                raise StoreError("the store cannot be reached")
            return await renew(run_id, owner=owner, ttl=ttl)

        store.renew_lease = renew_lease  # type: ignore[method-assign]


async def leased(store: RunStore) -> str:
    await store.create_run(make_run("r"))
    claimed = await store.claim_run(owner="me", ttl=TTL)
    assert claimed is not None
    await store.transition("r", RunStatus.RUNNING)
    return "r"


async def test_a_short_outage_does_not_stop_the_run(store: RunStore) -> None:
    run_id = await leased(store)
    outage = Unreachable(store)
    execution = asyncio.create_task(asyncio.sleep(10))
    renewal = LeaseRenewal(store, run_id, owner="me", ttl=TTL, execution=execution)
    try:
        outage.down = True
        await asyncio.sleep(TTL / 3 + 0.05)  # one renewal fails, the lease still holds
        outage.down = False
        await asyncio.sleep(TTL)
        assert not execution.done() and not renewal.lost
        assert outage.failed >= 1 and outage.tried > outage.failed
    finally:
        await renewal.stop()
        execution.cancel()


async def test_an_outage_longer_than_the_lease_stops_the_run(store: RunStore) -> None:
    run_id = await leased(store)
    outage = Unreachable(store)
    outage.down = True
    execution = asyncio.create_task(asyncio.sleep(10))
    renewal = LeaseRenewal(store, run_id, owner="me", ttl=TTL, execution=execution)
    try:
        await asyncio.sleep(TTL * 2)
        assert execution.cancelled() and renewal.lost
    finally:
        await renewal.stop()


async def test_a_calls_start_deadline_is_the_leases_known_end(store: RunStore) -> None:
    """It moves on with each renewal and stays put while none gets through: a gateway cut off
    or paused past it sends calls that agents refuse (``NodeTask.start_by``)."""
    run_id = await leased(store)
    outage = Unreachable(store)
    ctx = RunContext(run_id, "default/t", store, LocalDispatcher())
    ctx.lease = renewal = LeaseRenewal(store, run_id, owner="me", ttl=TTL)
    try:
        taken = renewal.holds_until
        for _ in range(100):  # the first renewal, a third of the TTL on
            await asyncio.sleep(0.05)
            if renewal.holds_until != taken:
                break
        renewed = renewal.holds_until
        assert renewed > taken
        assert ctx.start_by(None) == datetime.fromtimestamp(renewed - early(TTL), UTC)
        # a node's timeout that ends sooner sets it
        soon = ctx.start_by(0.01)
        assert soon is not None and soon.timestamp() < renewed - early(TTL)
        outage.down = True
        tried = outage.tried
        for _ in range(500):  # until a renewal does not get through
            if outage.tried > tried:
                break
            await asyncio.sleep(0.01)
        assert renewal.holds_until == renewed
    finally:
        await renewal.stop()


async def test_lost_is_false_while_renewing_and_after_a_stop(store: RunStore) -> None:
    run_id = await leased(store)
    renewal = LeaseRenewal(store, run_id, owner="me", ttl=TTL)
    assert not renewal.lost
    await renewal.stop()
    assert not renewal.lost


async def test_what_a_process_that_lost_the_lease_held_is_dropped(store: RunStore) -> None:
    if not store.defers_steps:
        pytest.skip("this store writes steps at once: nothing is held to drop")
    run_id = await leased(store)
    dispatcher = LocalDispatcher()
    ctx = RunContext(run_id=run_id, workflow="wf", store=store, dispatcher=dispatcher)
    step = StepRecord(run_id=run_id, node="a")
    store.defer_step(run_id, step, ("node.finished", {"node": "a"}))
    ctx.abandon()
    await store.flush_steps(run_id)
    assert await store.list_steps(run_id) == []
    assert await store.list_events(run_id) == []
    await dispatcher.aclose()


GATED = """
state: {trail: {type: array, items: {type: string}, reducer: append}}
output: [trail]
tools:
  - {name: record, function: "tests.counting_tools:record"}
  - {name: gated_record, function: "tests.engine.gated_tools:gated_record"}
nodes:
  - {name: first, type: tool, tool: record, args: {label: first}, output: trail}
  - {name: slow, type: tool, tool: gated_record, args: {label: slow, gate: %s}, output: trail}
  - {name: last, type: tool, tool: record, args: {label: last}, output: trail}
edges:
  - {from: START, to: first}
  - {from: first, to: slow}
  - {from: slow, to: last}
  - {from: last, to: END}
"""


@pytest.mark.parametrize("how", ["taken over", "cancelled and deleted"])
async def test_a_run_whose_lease_ends_mid_step_stops_without_writing(
    store: RunStore, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))
    gate = tmp_path / "gate"
    dispatcher = LocalDispatcher()
    # a long lease: no renewal comes before the step's commit, which alone must see the loss
    engine = Engine(store, dispatcher, owner="paused/1", lease_ttl=60)
    run = await engine.create_run(workflow(GATED % json.dumps(str(gate))), {})
    assert await store.claim_run(owner="paused/1", ttl=60) is not None  # as a worker does
    execution = asyncio.create_task(engine.execute(run.id))
    thread = {"configurable": {"thread_id": run.id}}
    try:
        async with open_store(store_url) as other:
            # until the slow node shows as running (its started record is written)
            while not any(s.node == "slow" for s in await other.list_steps(run.id)):
                assert not execution.done(), execution
                await asyncio.sleep(0.02)
            events, steps = await other.list_events(run.id), await other.list_steps(run.id)
            saved = await other.checkpointer().aget_tuple(thread)
            if how == "taken over":  # as if this process had been paused past its lease
                expires = utcnow() + timedelta(seconds=60)
                await other.transition(
                    run.id, RunStatus.RUNNING, lease_owner="taker/2", lease_expires_at=expires
                )
            else:  # cancelled, then removed with its steps, events and checkpoints
                await other.transition(run.id, RunStatus.CANCELLED)
                assert await other.delete_runs(finished_before=utcnow() + timedelta(seconds=1))
                events, steps, saved = [], [], None
            gate.touch()
            with pytest.raises(RunError) as lost:
                await execution
            assert lost.value.code == "lease_lost"
            assert await other.list_events(run.id) == events
            assert await other.list_steps(run.id) == steps
            after = await other.checkpointer().aget_tuple(thread)
            assert (after and after.config) == (saved and saved.config)
            if how == "taken over":
                now = await other.get_run(run.id)
                assert (now.status, now.lease_owner) == (RunStatus.RUNNING, "taker/2")
        assert counts() == {"first": 1, "slow": 1}  # the node after it never ran here
    finally:
        gate.touch()
        execution.cancel()
        await dispatcher.aclose()
