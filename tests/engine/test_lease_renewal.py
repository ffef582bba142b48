"""Keeping a run's lease (``engine/leases.py``): a store that cannot be reached for a moment does
not stop the run; one that cannot be reached until the lease has run out does, and what the
process still held for the run is then dropped, never written."""

from __future__ import annotations

import asyncio

import pytest

from agent_runtime.engine import LocalDispatcher
from agent_runtime.engine.context import RunContext
from agent_runtime.engine.leases import LeaseRenewal
from agent_runtime.stores import RunStatus, RunStore, StepRecord, StoreError
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
