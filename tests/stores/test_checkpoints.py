"""Run-store conformance: LangGraph checkpoints across restarts, large payloads, deleting runs."""

from __future__ import annotations

import asyncio
import operator
from datetime import timedelta
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph

from agent_runtime.stores import RunNotFound, RunStatus, RunStore, StepRecord, open_store
from agent_runtime.stores.records import utcnow
from tests.stores.helpers import BASE, make_run

#: 2 MB of varied text (beyond DynamoDB's 400 KB items, SQLite's default page cache, ...).
LARGE = ("large payload ✓ 0123456789 abcdefghijklmnopqrstuvwxyz\n" * 40_000)[: 2 * 1024 * 1024]


class State(TypedDict):
    text: str
    visited: Annotated[list[str], operator.add]


def first(state: State) -> dict[str, Any]:
    return {"visited": ["first"]}


def second(state: State) -> dict[str, Any]:
    return {"visited": ["second"], "text": state["text"] + "!"}


def tiny_graph(checkpointer: BaseCheckpointSaver[Any]) -> Any:
    builder = StateGraph(State)
    builder.add_node("first", first)
    builder.add_node("second", second)
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(checkpointer=checkpointer)


def thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


async def run_graph(store: RunStore, thread_id: str, text: str = "hi") -> None:
    graph = tiny_graph(store.checkpointer())
    await graph.ainvoke({"text": text, "visited": []}, thread(thread_id), durability="sync")


async def test_checkpointer_is_a_langgraph_saver(store: RunStore) -> None:
    assert isinstance(store.checkpointer(), BaseCheckpointSaver)


async def test_a_new_thread_skips_one_read_and_only_one(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``expect_new_thread`` answers the first read (LangGraph's, before the input checkpoint)
    without asking; every later read asks: the run's checkpoints are found after its steps."""
    saver = store.checkpointer()
    asked: list[str] = []
    read_one = saver._read_one  # type: ignore[attr-defined]

    async def counted(config: Any) -> Any:
        asked.append(config["configurable"]["thread_id"])
        return await read_one(config)

    monkeypatch.setattr(saver, "_read_one", counted)
    await run_graph(store, "plain")
    assert asked == ["plain"]  # LangGraph reads a thread before its first step
    store.expect_new_thread("fresh")
    await run_graph(store, "fresh", "new")
    assert asked == ["plain"]  # not a new one's
    found = await saver.aget_tuple(thread("fresh"))  # type: ignore[arg-type]
    assert asked == ["plain", "fresh"]
    assert found is not None and found.checkpoint["channel_values"]["text"] == "new!"
    graph = tiny_graph(store.checkpointer())
    state = await graph.aget_state(thread("fresh"))
    assert state.values["visited"] == ["first", "second"]


@pytest.mark.parametrize("text", ["hi", LARGE], ids=["small", "2MB"])
async def test_checkpoints_survive_a_restart(store_url: str, text: str) -> None:
    async with open_store(store_url) as store:
        await run_graph(store, "thread-1", text)
        await run_graph(store, "thread-2", "other")
    async with open_store(store_url) as reopened:
        graph = tiny_graph(reopened.checkpointer())
        snapshot = await graph.aget_state(thread("thread-1"))
        assert snapshot.values == {"text": text + "!", "visited": ["first", "second"]}
        assert snapshot.next == ()
        other = await graph.aget_state(thread("thread-2"))
        assert other.values["text"] == "other!"
        history = [s async for s in graph.aget_state_history(thread("thread-1"))]
        assert len(history) >= 3  # input, after first, after second
        assert (await graph.aget_state(thread("never-run"))).values == {}


async def test_large_run_record_round_trip(store: RunStore) -> None:
    run = await store.create_run(make_run(input={"document": LARGE, "n": 1}))
    assert (await store.get_run(run.id)).input["document"] == LARGE
    await store.transition(run.id, RunStatus.RUNNING)
    done = await store.transition(
        run.id, RunStatus.SUCCEEDED, output={"summary": LARGE, "extra": [LARGE[:10]]}
    )
    stored = await store.get_run(run.id)
    assert stored == done
    assert stored.output is not None and stored.output["summary"] == LARGE
    [listed] = (await store.list_runs()).items
    assert listed.output == stored.output and listed.input == stored.input
    event = await store.append_event(run.id, "run.finished", {"output": LARGE})
    assert (await store.list_events(run.id)) == [event]


async def test_large_run_record_survives_a_restart(store_url: str) -> None:
    async with open_store(store_url) as store:
        run = await store.create_run(make_run(input={"document": LARGE}, output={"summary": LARGE}))
    async with open_store(store_url) as reopened:
        assert await reopened.get_run(run.id) == run


async def test_delete_runs_removes_only_old_finished_runs(store: RunStore) -> None:
    now = utcnow()
    old = now - timedelta(days=2)
    cutoff = now - timedelta(days=1)

    def finished(run_id: str, status: RunStatus, at: Any) -> Any:
        return make_run(
            run_id,
            status=status,
            created_at=at - timedelta(hours=1),
            started_at=at - timedelta(minutes=30),
            finished_at=at,
        )

    doomed = [
        finished("old-succeeded", RunStatus.SUCCEEDED, old),
        finished("old-failed", RunStatus.FAILED, old),
        finished("old-cancelled", RunStatus.CANCELLED, old),
    ]
    kept = [
        finished("new-succeeded", RunStatus.SUCCEEDED, now),
        finished("new-failed", RunStatus.FAILED, cutoff + timedelta(minutes=1)),
        make_run("old-queued", created_at=BASE),
        make_run("old-running", status=RunStatus.RUNNING, created_at=BASE, started_at=BASE),
        make_run("old-interrupted", status=RunStatus.INTERRUPTED, created_at=BASE, started_at=BASE),
    ]
    for run in doomed + kept:
        await store.create_run(run)
        await store.record_step(StepRecord(run_id=run.id, node="first", started_at=BASE))
        await store.append_event(run.id, "run.started", {})
        await run_graph(store, run.id)

    assert await store.delete_runs(finished_before=cutoff) == 3

    saver = store.checkpointer()
    for run in doomed:
        with pytest.raises(RunNotFound):
            await store.get_run(run.id)
        assert await store.list_steps(run.id) == []
        assert await store.list_events(run.id) == []
        assert await saver.aget_tuple(thread(run.id)) is None  # type: ignore[arg-type]
    for run in kept:
        assert await store.get_run(run.id) == run
        assert len(await store.list_steps(run.id)) == 1
        assert len(await store.list_events(run.id)) == 1
        assert await saver.aget_tuple(thread(run.id)) is not None  # type: ignore[arg-type]
    assert sorted(r.id for r in (await store.list_runs()).items) == sorted(r.id for r in kept)

    assert await store.delete_runs(finished_before=cutoff) == 0
    assert await store.delete_runs(finished_before=now + timedelta(seconds=1)) == 2


async def test_delete_run_removes_one_finished_run_and_frees_its_key(store: RunStore) -> None:
    """``delete_run``: what a Trigger's history limits call; never a run still active."""
    now = utcnow()
    done = make_run(
        "done",
        status=RunStatus.FAILED,
        created_at=now,
        started_at=now,
        finished_at=now,
        idempotency_key="tick-1",
    )
    other = make_run("other", status=RunStatus.SUCCEEDED, created_at=now, finished_at=now)
    active = [
        make_run("queued", created_at=now),
        make_run("running", status=RunStatus.RUNNING, created_at=now, started_at=now),
        make_run("waiting", status=RunStatus.INTERRUPTED, created_at=now, started_at=now),
    ]
    for run in (done, other, *active):
        await store.create_run(run)
        await store.record_step(StepRecord(run_id=run.id, node="first", started_at=now))
        await store.append_event(run.id, "run.started", {})
        await run_graph(store, run.id)

    assert await store.delete_run(done.id) is True
    saver = store.checkpointer()
    with pytest.raises(RunNotFound):
        await store.get_run(done.id)
    assert await store.list_steps(done.id) == []
    assert await store.list_events(done.id) == []
    assert await saver.aget_tuple(thread(done.id)) is None  # type: ignore[arg-type]
    assert await store.delete_run(done.id) is False  # gone already
    assert await store.delete_run("never-was") is False
    for run in active:  # not finished: left as it is
        assert await store.delete_run(run.id) is False
    for run in (other, *active):
        assert await store.get_run(run.id) == run
        assert len(await store.list_events(run.id)) == 1
        assert await saver.aget_tuple(thread(run.id)) is not None  # type: ignore[arg-type]
    again = await store.create_run(make_run("again", idempotency_key="tick-1", created_at=now))
    assert again.id == "again"  # the key is free: a new run, not the erased one


async def test_prune_by_age(store: RunStore) -> None:
    """``prune(older_than)``: what ``runs prune --older-than`` calls, on every backend."""
    now = utcnow()
    old = make_run(
        status=RunStatus.SUCCEEDED,
        created_at=now - timedelta(days=40),
        started_at=now - timedelta(days=40),
        finished_at=now - timedelta(days=31),
    )
    recent = make_run(
        status=RunStatus.FAILED,
        created_at=now - timedelta(days=3),
        started_at=now - timedelta(days=3),
        finished_at=now - timedelta(days=2),
    )
    waiting = make_run(status=RunStatus.INTERRUPTED, created_at=now - timedelta(days=90))
    for run in (old, recent, waiting):
        await store.create_run(run)
        await run_graph(store, run.id)
    assert await store.prune(timedelta(days=30)) == 1
    with pytest.raises(RunNotFound):
        await store.get_run(old.id)
    assert await store.checkpointer().aget_tuple(thread(old.id)) is None  # type: ignore[arg-type]
    assert {r.id for r in (await store.list_runs()).items} == {recent.id, waiting.id}
    assert await store.prune(timedelta(days=1)) == 1
    assert [r.id for r in (await store.list_runs()).items] == [waiting.id]


WRITER = """
import asyncio, sys
from agent_runtime.stores import open_store
from tests.stores.test_checkpoints import run_graph

async def main() -> None:
    async with open_store(sys.argv[1]) as store:
        await run_graph(store, "from-another-process", "written elsewhere")

asyncio.run(main())
"""


@pytest.mark.slow
async def test_checkpoints_written_by_another_process(store_url: str) -> None:
    """A checkpoint written by a process that has exited is read back here."""
    import subprocess
    import sys

    from tests.conftest import REPO

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", WRITER, store_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    async with open_store(store_url) as store:
        snapshot = await tiny_graph(store.checkpointer()).aget_state(thread("from-another-process"))
        assert snapshot.values == {"text": "written elsewhere!", "visited": ["first", "second"]}
