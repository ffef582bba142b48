"""Run-store conformance: runs queued on a thread (double texting's ``enqueue``) are claimed one
at a time in the order they came, each only when the run before it let the thread go; a run
rolled back is erased from the thread's history."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_runtime.stores import RunNotFound, RunStatus, RunStore, open_store
from agent_runtime.stores.errors import ThreadConflict
from agent_runtime.stores.records import ThreadStatus
from agent_runtime.stores.thread_rules import PARKED
from tests.stores.helpers import make_run
from tests.stores.test_threads import finish, thread, write_history


async def queue_on(store: RunStore, thread_id: str, **fields: Any) -> str:
    """A run created with ``enqueue`` on the thread; its id."""
    run = make_run(thread_id=thread_id, **fields)
    await store.create_run(run, enqueue=True)
    return run.id


async def claimed(store: RunStore) -> str | None:
    run = await store.claim_run(owner="worker", ttl=30)
    return None if run is None else run.id


async def test_queued_runs_start_one_after_another_in_order(store: RunStore) -> None:
    await store.create_thread(thread("t"))
    first = await queue_on(store, "t")  # a free thread: it holds it at once
    second, third = await queue_on(store, "t"), await queue_on(store, "t")
    held = await store.get_thread("t")
    assert (held.active_run_id, held.queue) == (first, [second, third])
    parked = await store.get_run(second)
    assert parked.status == RunStatus.QUEUED and parked.lease_expires_at == PARKED
    assert await claimed(store) == first
    assert await claimed(store) is None  # the others wait for the thread
    await finish(store, first, {"said": ["first"]})
    after_first = await store.get_thread("t")
    assert (after_first.status, after_first.active_run_id, after_first.queue) == (
        ThreadStatus.BUSY,
        second,
        [third],
    )
    assert after_first.values == {"said": ["first"]}
    assert await claimed(store) == second
    assert await claimed(store) is None
    await store.transition(second, RunStatus.RUNNING)
    await store.transition(second, RunStatus.CANCELLED)  # cancelled: the next goes on too
    assert await claimed(store) == third
    await finish(store, third, {"said": ["first", "third"]})
    done = await store.get_thread("t")
    assert (done.status, done.active_run_id, done.queue) == (ThreadStatus.IDLE, None, [])
    assert [r.id for r in await store.list_thread_runs("t")] == [third, second, first]


async def test_a_waiting_run_holds_the_queue_and_a_queued_one_may_leave_it(
    store: RunStore,
) -> None:
    await store.create_thread(thread("t"))
    asking = await queue_on(store, "t")
    await store.transition(asking, RunStatus.RUNNING)
    await store.transition(asking, RunStatus.INTERRUPTED, thread_values={"q": "asked"})
    second, third = await queue_on(store, "t"), await queue_on(store, "t")
    assert await claimed(store) is None  # a run at a human node still holds the thread
    await store.transition(second, RunStatus.CANCELLED)  # given up while it waited
    waiting = await store.get_thread("t")
    assert (waiting.status, waiting.active_run_id, waiting.queue) == (
        ThreadStatus.INTERRUPTED,
        asking,
        [third],
    )
    with pytest.raises(ThreadConflict):  # reject still refuses while it is held
        await store.create_run(make_run(thread_id="t"))
    await store.transition(asking, RunStatus.RUNNING)  # answered
    await store.transition(asking, RunStatus.FAILED, thread_values={"q": "failed"})
    assert (await store.get_thread("t")).active_run_id == third  # a failure lets it go too
    assert await claimed(store) == third


async def test_queued_on_two_stores_each_waits_its_turn(store_url: str) -> None:
    async with open_store(store_url) as one, open_store(store_url) as two:
        await one.create_thread(thread("t"))
        holder = await queue_on(one, "t")
        if store_url.startswith("s3://"):  # moto's transactions are not isolated (test_threads)
            queued = [await queue_on(s, "t") for s in (one, two, one, two)]
        else:
            queued = list(await asyncio.gather(*(queue_on(s, "t") for s in (one, two, one, two))))
        order = (await two.get_thread("t")).queue
        assert sorted(order) == sorted(queued)
        started = []
        for run_id in [holder, *order]:
            assert await claimed(two if len(started) % 2 else one) == run_id
            assert await claimed(one) is None and await claimed(two) is None
            started.append(run_id)
            await finish(one if len(started) % 2 else two, run_id, {"n": len(started)})
        assert (await one.get_thread("t")).values == {"n": 5}


async def test_an_erased_run_leaves_no_trace_on_its_thread(store: RunStore) -> None:
    await store.create_thread(thread("t"))
    kept = await write_history(store, "t", "one")
    erased = await write_history(store, "t", "two")
    with pytest.raises(ThreadConflict):  # only a finished run is erased
        await store.erase_run(await queue_on(store, "t"))
    await store.erase_run(erased)
    with pytest.raises(RunNotFound):
        await store.get_run(erased)
    assert await store.list_steps(erased) == [] and await store.list_events(erased) == []
    history = await store.thread_history("t", limit=100)
    assert {s.run_id for s in history} == {kept}
    saver = store.checkpointer()
    assert await saver.aget_tuple({"configurable": {"thread_id": erased}}) is None


async def test_a_queued_run_cancelled_as_the_thread_comes_to_it_passes_it_on(
    store_url: str,
) -> None:
    if store_url.startswith("s3://"):
        pytest.skip("moto's transactions are not isolated (test_threads)")
    async with open_store(store_url) as one, open_store(store_url) as two:
        for round_ in range(5):
            tid = f"t-{round_}"
            await one.create_thread(thread(tid))
            holder = await queue_on(one, tid)
            cancelled, last = await queue_on(one, tid), await queue_on(two, tid)
            await one.transition(holder, RunStatus.RUNNING)
            await asyncio.gather(
                one.transition(holder, RunStatus.SUCCEEDED, thread_values={"n": round_}),
                two.transition(cancelled, RunStatus.CANCELLED),
            )
            now = await two.get_thread(tid)
            assert (now.active_run_id, now.queue, now.values) == (last, [], {"n": round_})
            assert (await one.get_run(cancelled)).status == RunStatus.CANCELLED
            assert await claimed(two) == last  # unparked whichever transaction came first
            await finish(one, last, {"n": -1})
