"""Store calls tried again, and faults injected where they are (``stores/retries.py``), on every
backend: what failed before it started is sent again, what may have been written is not."""

from __future__ import annotations

import random
from typing import Any

import pytest

from agent_runtime.stores import RunStatus, RunStore, StepRecord, StoreError, open_store, retries
from agent_runtime.stores.retries import ATTEMPTS, FAULTS_ENV, Faults, InjectedFault
from tests.stores.helpers import make_run
from tests.stores.test_checkpoints import run_graph


def inject(store: RunStore, rate: float, seed: int = 7) -> Faults:
    faults = Faults(rate, random.Random(seed))
    store._faults = faults  # type: ignore[attr-defined]
    saver = store.checkpointer()
    saver._faults = faults  # type: ignore[attr-defined]
    return faults


async def test_calls_that_failed_before_starting_are_sent_again(store: RunStore) -> None:
    """A third of every call fails before it starts; nothing shows, nothing is written twice."""
    faults = inject(store, 0.3)
    for i in range(10):
        await store.create_run(make_run(f"r{i}"))
    claimed = await store.claim_run(owner="me", ttl=30)
    assert claimed is not None
    await store.transition(claimed.id, RunStatus.RUNNING)
    for attempt in (1, 2):
        step = StepRecord(run_id=claimed.id, node="n", attempt=attempt)
        await store.record_step(step, event=("node.started", {"attempt": attempt}))
    await store.append_event(claimed.id, "note", {})
    await store.transition_and_emit(claimed.id, RunStatus.SUCCEEDED, "run.succeeded", {})
    await run_graph(store, "thread-faults", "hello")

    assert faults.injected > 5
    assert len((await store.list_runs(limit=50)).items) == 10
    assert [s.attempt for s in await store.list_steps(claimed.id)] == [1, 2]
    events = await store.list_events(claimed.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events] == ["node.started", "node.started", "note", "run.succeeded"]
    assert (await store.get_run(claimed.id)).status == RunStatus.SUCCEEDED
    saved = await store.checkpointer().aget_tuple({"configurable": {"thread_id": "thread-faults"}})
    assert saved is not None
    assert saved.checkpoint["channel_values"]["text"] == "hello!"


async def test_a_store_that_keeps_failing_fails_after_a_few_tries(store: RunStore) -> None:
    faults = inject(store, 0.999999)
    with pytest.raises(InjectedFault, match="injected store fault in get_run"):
        await store.get_run("nothing")
    assert faults.calls == ATTEMPTS


def backend_of(store: RunStore) -> Any:
    """The backend's own class, under the retrying one ``open_store`` made."""
    return type(store).__mro__[1]


def patch_backend(store: RunStore, monkeypatch: pytest.MonkeyPatch, name: str, method: Any) -> None:
    """Replace a backend method, then wrap the store again: the retrying class took the
    backend's methods when it was made."""
    backend = backend_of(store)
    monkeypatch.setattr(backend, name, method)
    monkeypatch.setattr(retries, "_CLASSES", {})
    store.__class__ = backend
    retries.with_retries(store)


async def test_a_write_that_may_have_reached_the_store_is_not_sent_again(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An event appended and then a lost answer: sending it again would append it twice."""
    await store.create_run(make_run("r"))
    append = backend_of(store).append_event
    calls: list[str] = []

    async def written_then_lost(self: Any, run_id: str, kind: str, data: dict[str, Any]) -> Any:
        calls.append(kind)
        await append(self, run_id, kind, data)
        raise StoreError("connection lost while committing")

    patch_backend(store, monkeypatch, "append_event", written_then_lost)
    with pytest.raises(StoreError, match="connection lost"):
        await store.append_event("r", "once", {})
    assert calls == ["once"]
    assert [e.type for e in await store.list_events("r")] == ["once"]


async def test_a_read_is_tried_again_whatever_failed(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_run(make_run("r"))
    get = backend_of(store).get_run
    failures = [StoreError("server restarting"), StoreError("server restarting")]

    async def flaky(self: Any, run_id: str) -> Any:
        if failures:
            raise failures.pop()
        return await get(self, run_id)

    patch_backend(store, monkeypatch, "get_run", flaky)
    assert (await store.get_run("r")).id == "r"
    assert not failures


@pytest.mark.parametrize("value", ["lots", "1.5", "-0.1", "0.1:x"])
async def test_a_bad_fault_setting_names_the_variable(
    value: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULTS_ENV, value)
    with pytest.raises(StoreError, match=FAULTS_ENV):
        open_store(sqlite_url)


async def test_faults_from_the_environment(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULTS_ENV, "0.5:3")
    async with open_store(sqlite_url) as store:
        for i in range(20):
            await store.create_run(make_run(f"r{i}"))
        faults: Faults = store._faults  # type: ignore[attr-defined]
        assert faults.rate == 0.5
        assert faults.injected > 3
        assert len((await store.list_runs()).items) == 20
