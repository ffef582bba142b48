"""Run-store conformance: status transitions, steps and events."""

from __future__ import annotations

import asyncio
import itertools
from contextlib import AsyncExitStack
from datetime import timedelta, timezone

import pytest

from agent_runtime.stores import (
    InvalidTransition,
    RunNotFound,
    RunRecord,
    RunStatus,
    RunStore,
    StepRecord,
    StepStatus,
    StoreError,
    open_store,
)
from agent_runtime.stores.records import utcnow
from agent_runtime.stores.transitions import TRANSITIONS
from tests.stores.helpers import BASE, assert_between, make_run

ALLOWED = sorted((old, new) for new, olds in TRANSITIONS.items() for old in olds)
DISALLOWED = sorted(set(itertools.product(RunStatus, RunStatus)) - set(ALLOWED))
#: Fields a transition itself may change; everything else must stay as it was.
MOVING = {
    "status",
    "updated_at",
    "started_at",
    "finished_at",
    "lease_owner",
    "lease_expires_at",
    "waiting_for",
}


def run_in(status: RunStatus) -> RunRecord:
    """A plausible record already in ``status``."""
    started = None if status == RunStatus.QUEUED else BASE + timedelta(seconds=1)
    leased = status == RunStatus.RUNNING
    return make_run(
        f"run-{status.value}",
        status=status,
        created_at=BASE,
        updated_at=BASE,
        started_at=started,
        finished_at=BASE + timedelta(seconds=2) if status.finished else None,
        input={"q": "x"},
        lease_owner="owner-a" if leased else None,
        lease_expires_at=utcnow() + timedelta(minutes=5) if leased else None,
        waiting_for="llm" if status == RunStatus.QUEUED else None,  # no agent took its task
    )


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=lambda s: s.value)
async def test_allowed_transition(store: RunStore, old: RunStatus, new: RunStatus) -> None:
    before_run = await store.create_run(run_in(old))
    before = utcnow()
    moved = await store.transition(before_run.id, new)
    after = utcnow()
    assert moved.status == new
    assert await store.get_run(before_run.id) == moved
    assert_between(moved.updated_at, before, after)
    if new == RunStatus.RUNNING and before_run.started_at is None:
        assert_between(moved.started_at, before, after)
    else:
        assert moved.started_at == before_run.started_at
    if new.finished:
        assert_between(moved.finished_at, before, after)
        assert moved.lease_owner is None and moved.lease_expires_at is None
    else:
        assert moved.finished_at is None
    # a run waits for a capability's agents only while queued (then cancelled, or running)
    assert moved.waiting_for == (before_run.waiting_for if new == RunStatus.QUEUED else None)
    assert moved.model_dump(exclude=MOVING) == before_run.model_dump(exclude=MOVING)


@pytest.mark.parametrize(("old", "new"), DISALLOWED, ids=lambda s: s.value)
async def test_disallowed_transition(store: RunStore, old: RunStatus, new: RunStatus) -> None:
    run = await store.create_run(run_in(old))
    with pytest.raises(InvalidTransition) as info:
        await store.transition(run.id, new, output={"should": "not be stored"})
    assert isinstance(info.value, StoreError)
    assert info.value.current == old and info.value.wanted == new
    assert await store.get_run(run.id) == run


async def test_transition_of_unknown_run(store: RunStore) -> None:
    with pytest.raises(RunNotFound):
        await store.transition("no-such-run", RunStatus.RUNNING)


async def test_transition_stores_extra_fields(store: RunStore) -> None:
    run = await store.create_run(make_run(input={"q": "hi"}))
    expires = utcnow() + timedelta(minutes=1)
    running = await store.transition(
        run.id, RunStatus.RUNNING, lease_owner="owner-a", lease_expires_at=expires
    )
    assert (running.lease_owner, running.lease_expires_at) == ("owner-a", expires)

    request = {"question": "Approve?", "fields": ["approved"], "context": {"draft": [1, 2]}}
    paused = await store.transition(
        run.id, RunStatus.INTERRUPTED, interrupt=request, lease_owner=None, lease_expires_at=None
    )
    assert (await store.get_run(run.id)).interrupt == request
    assert paused.lease_owner is None

    resumed = await store.transition(run.id, RunStatus.RUNNING, interrupt=None, error=None)
    assert resumed.interrupt is None
    assert resumed.started_at == running.started_at

    output = {"answer": "yes", "details": {"votes": [1, 2, 3], "unicode": "✓ é"}}
    done = await store.transition(run.id, RunStatus.SUCCEEDED, output=output)
    stored = await store.get_run(run.id)
    assert stored == done
    assert stored.output == output
    assert stored.interrupt is None and stored.error is None
    assert stored.input == {"q": "hi"}

    failing = await store.create_run(make_run(status=RunStatus.RUNNING))
    error = {"code": "internal", "message": "boom", "node": "b"}
    await store.transition(failing.id, RunStatus.FAILED, error=error)
    assert (await store.get_run(failing.id)).error == error


async def test_finished_transition_clears_the_lease(store: RunStore) -> None:
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED):
        run = await store.create_run(make_run())
        await store.transition(
            run.id,
            RunStatus.RUNNING,
            lease_owner="owner-a",
            lease_expires_at=utcnow() + timedelta(minutes=5),
        )
        done = await store.transition(run.id, status)
        stored = await store.get_run(run.id)
        assert stored == done
        assert stored.lease_owner is None and stored.lease_expires_at is None


# ----------------------------------------------------------------------------- steps


async def test_record_step_inserts_then_updates(store: RunStore) -> None:
    run = await store.create_run(make_run())
    step = StepRecord(run_id=run.id, node="a", visit=0, attempt=1, started_at=BASE)
    await store.record_step(step)
    assert await store.list_steps(run.id) == [step]

    done = step.model_copy(
        update={
            "status": StepStatus.SUCCEEDED,
            "finished_at": BASE + timedelta(seconds=3, microseconds=5),
            "input_tokens": 1234,
            "output_tokens": 567,
        }
    )
    await store.record_step(done)
    assert await store.list_steps(run.id) == [done]

    retry = StepRecord(
        run_id=run.id, node="a", visit=0, attempt=2, started_at=BASE + timedelta(seconds=4)
    )
    revisit = StepRecord(
        run_id=run.id, node="a", visit=1, attempt=1, started_at=BASE + timedelta(seconds=5)
    )
    await store.record_step(retry)
    await store.record_step(revisit)
    assert await store.list_steps(run.id) == [done, retry, revisit]


async def test_list_steps_ordered_by_start(store: RunStore) -> None:
    run = await store.create_run(make_run())
    other = await store.create_run(make_run())
    minus3 = timezone(timedelta(hours=-3))
    steps = [
        StepRecord(run_id=run.id, node="first", started_at=BASE + timedelta(seconds=1)),
        StepRecord(
            run_id=run.id,
            node="second",
            started_at=(BASE + timedelta(seconds=2)).astimezone(minus3),
        ),
        StepRecord(run_id=run.id, node="third", started_at=BASE + timedelta(seconds=3)),
    ]
    for step in (steps[2], steps[0], steps[1]):
        await store.record_step(step)
    await store.record_step(StepRecord(run_id=other.id, node="first", started_at=BASE))
    assert [s.node for s in await store.list_steps(run.id)] == ["first", "second", "third"]
    assert await store.list_steps(run.id) == steps
    assert len(await store.list_steps(other.id)) == 1
    assert await store.list_steps("no-such-run") == []


async def test_step_tokens_and_errors_round_trip(store: RunStore) -> None:
    run = await store.create_run(make_run())
    step = StepRecord(
        run_id=run.id,
        node="llm",
        visit=2,
        attempt=3,
        status=StepStatus.FAILED,
        started_at=BASE,
        finished_at=BASE + timedelta(milliseconds=1500),
        input_tokens=10_000_000,
        output_tokens=42,
        error="provider error: 529 overloaded\nsecond line ✓",
    )
    await store.record_step(step)
    [stored] = await store.list_steps(run.id)
    assert stored == step
    assert stored.model_dump(mode="json") == step.model_dump(mode="json")


# ----------------------------------------------------------------------------- events


async def test_events_numbered_per_run(store: RunStore) -> None:
    a = await store.create_run(make_run())
    b = await store.create_run(make_run())
    before = utcnow()
    e1 = await store.append_event(a.id, "run.started", {"status": "running"})
    e2 = await store.append_event(a.id, "step.finished", {"node": "x", "nested": {"k": [1, 2]}})
    f1 = await store.append_event(b.id, "run.started", {})
    e3 = await store.append_event(a.id, "run.finished", {"status": "succeeded"})
    after = utcnow()
    assert [e.seq for e in (e1, e2, e3)] == [1, 2, 3]
    assert f1.seq == 1
    assert (e2.run_id, e2.type, e2.data) == (
        a.id,
        "step.finished",
        {"node": "x", "nested": {"k": [1, 2]}},
    )
    assert_between(e1.at, before, after)

    assert await store.list_events(a.id) == [e1, e2, e3]
    assert await store.list_events(b.id) == [f1]
    assert await store.list_events(a.id, after=1) == [e2, e3]
    assert await store.list_events(a.id, after=2) == [e3]
    assert await store.list_events(a.id, after=3) == []
    assert await store.list_events("no-such-run") == []


async def test_concurrent_appends_are_gapless(store: RunStore) -> None:
    run = await store.create_run(make_run())
    events = await asyncio.gather(
        *(store.append_event(run.id, "tick", {"i": i}) for i in range(20))
    )
    assert sorted(e.seq for e in events) == list(range(1, 21))
    listed = await store.list_events(run.id)
    assert [e.seq for e in listed] == list(range(1, 21))
    assert sorted(e.data["i"] for e in listed) == list(range(20))


async def test_concurrent_appends_from_several_instances(store: RunStore, store_url: str) -> None:
    run = await store.create_run(make_run())
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(store_url)) for _ in range(4)]
        events = await asyncio.gather(
            *(s.append_event(run.id, "tick", {"i": i}) for i in range(5) for s in stores)
        )
    assert sorted(e.seq for e in events) == list(range(1, 21))
    assert [e.seq for e in await store.list_events(run.id)] == list(range(1, 21))


async def test_a_step_and_its_event_in_one_write(store: RunStore) -> None:
    run = await store.create_run(make_run("run-step-event"))
    await store.append_event(run.id, "run.started", {})
    step = StepRecord(run_id=run.id, node="a", started_at=BASE)
    event = await store.record_step(step, event=("node.started", {"node": "a"}))
    assert event is not None and event.seq == 2 and event.type == "node.started"
    assert await store.record_step(step.model_copy(update={"status": StepStatus.SUCCEEDED})) is None
    done = await store.record_step(
        step.model_copy(update={"status": StepStatus.SUCCEEDED}), event=("node.finished", {"n": 1})
    )
    assert done is not None and done.seq == 3
    assert [e.type for e in await store.list_events(run.id)] == [
        "run.started",
        "node.started",
        "node.finished",
    ]
    [stored] = await store.list_steps(run.id)
    assert stored.status == StepStatus.SUCCEEDED
