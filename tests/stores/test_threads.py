"""Run-store conformance: threads (create, search, update, copy, delete), a run claiming its
thread (one at a time, also across store instances) and leaving its state, the history."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agent_runtime.stores import RunNotFound, RunStatus, RunStore, open_store
from agent_runtime.stores.errors import InvalidThreadUpdate, ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import Actor, ThreadRecord, ThreadStatus
from tests.stores.helpers import BASE, make_run
from tests.stores.test_checkpoints import tiny_graph


def thread(thread_id: str, **fields: Any) -> ThreadRecord:
    return ThreadRecord(id=thread_id, **fields)


async def run_on(store: RunStore, thread_id: str, **fields: Any) -> str:
    """A queued run on the thread (claiming it); its id."""
    run = make_run(thread_id=thread_id, **fields)
    await store.create_run(run)
    return run.id


async def finish(store: RunStore, run_id: str, values: dict[str, Any]) -> None:
    await store.transition(run_id, RunStatus.RUNNING)
    await store.transition(run_id, RunStatus.SUCCEEDED, thread_values=values)


async def test_create_get_and_refuse_a_taken_id(store: RunStore) -> None:
    made = thread(
        "t-1",
        namespace="team-a",
        created_by=Actor(username="alice", groups=["dev"]),
        metadata={"user": "alice", "topic": {"name": "Ça ✓", "n": [1, 2]}},
    )
    assert await store.create_thread(made) == made
    got = await store.get_thread("t-1")
    assert got == made and got.status == ThreadStatus.IDLE and got.values == {}
    with pytest.raises(ThreadConflict):
        await store.create_thread(thread("t-1"))
    with pytest.raises(ThreadNotFound):
        await store.get_thread("t-missing")


async def test_search_by_metadata_namespace_status_and_creator(store: RunStore) -> None:
    alice, bob = Actor(username="alice"), Actor(username="bob")
    for i in range(6):
        await store.create_thread(
            thread(
                f"t-{i}",
                namespace="a" if i % 2 else "b",
                created_by=alice if i < 3 else bob,
                metadata={"n": i, "even": i % 2 == 0, "tag": {"k": "v"} if i < 2 else "x"},
                updated_at=BASE + timedelta(seconds=i),
            )
        )
    ids = [t.id for t in await store.search_threads(limit=100)]
    assert ids == ["t-5", "t-4", "t-3", "t-2", "t-1", "t-0"]  # newest updated first
    by_meta = await store.search_threads(metadata={"even": True, "tag": "x"})
    assert [t.id for t in by_meta] == ["t-4", "t-2"]
    nested = await store.search_threads(metadata={"tag": {"k": "v"}})
    assert [t.id for t in nested] == ["t-1", "t-0"]
    assert await store.search_threads(metadata={"missing": None}) == []
    in_a = await store.search_threads(namespaces=["a"], created_by="alice")
    assert [t.id for t in in_a] == ["t-1"]
    assert await store.search_threads(namespaces=[]) == []
    assert [t.id for t in await store.search_threads(limit=2, offset=1)] == ["t-4", "t-3"]
    assert [t.id for t in await store.search_threads(metadata={"even": True}, offset=1)] == [
        "t-2",
        "t-0",
    ]
    await run_on(store, "t-0", namespace="b")
    busy = await store.search_threads(status=ThreadStatus.BUSY)
    assert [t.id for t in busy] == ["t-0"]


async def test_update_merges_metadata_sets_values_and_moves_it_first(store: RunStore) -> None:
    await store.create_thread(thread("old", metadata={"a": 1, "b": 2}, updated_at=BASE))
    await store.create_thread(thread("new", updated_at=BASE + timedelta(seconds=1)))
    updated = await store.update_thread("old", metadata={"b": 3, "c": 4}, values={"x": [1]})
    assert updated.metadata == {"a": 1, "b": 3, "c": 4}
    assert (await store.get_thread("old")) == updated
    assert [t.id for t in await store.search_threads()] == ["old", "new"]
    with pytest.raises(ThreadNotFound):
        await store.update_thread("nope", metadata={"a": 1})


async def test_update_keeps_what_the_store_reads_back_and_refuses_what_it_cannot(
    store: RunStore,
) -> None:
    await store.create_thread(thread("t", metadata={"a": 1}))
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    updated = await store.update_thread("t", metadata={"at": stamp}, values={"pair": (1, 2)})
    assert updated.metadata == {"a": 1, "at": "2026-01-02T03:04:05Z"}
    assert updated.values == {"pair": [1, 2]}
    assert (await store.get_thread("t")) == updated
    with pytest.raises(InvalidThreadUpdate) as refused:
        await store.update_thread("t", values={"x": object()})
    assert refused.value.details[0]["field"] == "values"
    with pytest.raises(InvalidThreadUpdate, match=r"^metadata: expected an object, not list"):
        await store.update_thread("t", metadata=["a"])  # type: ignore[arg-type]
    assert (await store.get_thread("t")) == updated


async def test_large_values_round_trip(store: RunStore) -> None:
    """A long conversation's state (beyond a DynamoDB item) through update, a run, a copy."""
    long = {"log": [f"message {i} " + "✓" * 200 for i in range(2000)]}
    await store.create_thread(thread("big"))
    assert (await store.update_thread("big", values=long)).values == long
    assert (await store.get_thread("big")).values == long
    run_id = await run_on(store, "big")
    await finish(store, run_id, {"log": [*long["log"], "one more"]})
    assert len((await store.get_thread("big")).values["log"]) == 2001
    copy = await store.copy_thread("big", "big-copy")
    assert copy.values == (await store.get_thread("big-copy")).values
    await store.delete_thread("big")
    assert len((await store.get_thread("big-copy")).values["log"]) == 2001


async def test_a_run_holds_its_thread_and_leaves_its_values(store: RunStore) -> None:
    await store.create_thread(thread("t", namespace="ns"))
    first = await run_on(store, "t", namespace="ns")
    held = await store.get_thread("t")
    assert held.status == ThreadStatus.BUSY and held.active_run_id == first
    assert held.workflow == "wf"  # bound by its first run
    with pytest.raises(ThreadConflict) as refused:
        await run_on(store, "t", namespace="ns")
    assert refused.value.details == {"thread": "t", "activeRun": first}
    await finish(store, first, {"items": [1]})
    done = await store.get_thread("t")
    assert (done.status, done.values, done.last_run_id) == (
        ThreadStatus.IDLE,
        {"items": [1]},
        first,
    )
    assert done.active_run_id is None
    second = await run_on(store, "t", namespace="ns")
    assert [r.id for r in await store.list_thread_runs("t")] == [second, first]
    assert (await store.get_run(second)).thread_id == "t"


async def test_run_outcomes_move_the_thread(store: RunStore) -> None:
    await store.create_thread(thread("t"))
    run_id = await run_on(store, "t")
    await store.transition(run_id, RunStatus.RUNNING)
    await store.transition_and_emit(
        run_id, RunStatus.INTERRUPTED, "run.interrupted", {}, thread_values={"q": "asked"}
    )
    waiting = await store.get_thread("t")
    assert (waiting.status, waiting.values) == (ThreadStatus.INTERRUPTED, {"q": "asked"})
    with pytest.raises(ThreadConflict):  # the interrupted run still holds it
        await run_on(store, "t")
    await store.transition(run_id, RunStatus.QUEUED)  # answered
    assert (await store.get_thread("t")).status == ThreadStatus.BUSY
    await store.transition(run_id, RunStatus.RUNNING)
    await store.transition(run_id, RunStatus.FAILED, thread_values={"q": "failed"})
    failed = await store.get_thread("t")
    assert (failed.status, failed.values, failed.active_run_id) == (
        ThreadStatus.ERROR,
        {"q": "failed"},
        None,
    )
    await store.transition(run_id, RunStatus.QUEUED)  # retried: holds it again
    assert (await store.get_thread("t")).active_run_id == run_id
    await store.transition(run_id, RunStatus.CANCELLED)  # no values: the state stays
    cancelled = await store.get_thread("t")
    assert (cancelled.status, cancelled.values) == (ThreadStatus.IDLE, {"q": "failed"})


async def test_a_run_needs_its_thread_in_its_namespace_and_workflow(store: RunStore) -> None:
    with pytest.raises(ThreadNotFound):
        await run_on(store, "absent")
    await store.create_thread(thread("t", namespace="a"))
    with pytest.raises(ThreadNotFound):
        await run_on(store, "t", namespace="b")
    first = await run_on(store, "t", namespace="a", workflow="chat")
    await finish(store, first, {})
    with pytest.raises(ThreadConflict):
        await run_on(store, "t", namespace="a", workflow="other")
    assert (await store.get_thread("t")).status == ThreadStatus.IDLE


async def test_an_idempotent_retry_returns_the_run_without_a_conflict(store: RunStore) -> None:
    await store.create_thread(thread("t"))
    run = make_run(thread_id="t", idempotency_key="k")
    assert await store.create_run(run) == run
    again = await store.create_run(make_run(thread_id="t", idempotency_key="k"))
    assert again.id == run.id


async def test_two_runs_claiming_one_thread_one_wins(store_url: str) -> None:
    if store_url.startswith("s3://"):
        pytest.skip(
            "moto's TransactWriteItems are not isolated: a cancelled one puts back the table as "
            "it was when it began, undoing a concurrent claim (DynamoDB's are serializable); "
            "test_a_claim_over_a_stale_read_loses covers the conditional write"
        )
    async with open_store(store_url) as one, open_store(store_url) as two:
        for round_ in range(5):
            await one.create_thread(thread(f"t-{round_}"))
            outcomes = await asyncio.gather(
                *(run_on(s, f"t-{round_}") for s in (one, two, one, two)),
                return_exceptions=True,
            )
            won = [o for o in outcomes if isinstance(o, str)]
            lost = [o for o in outcomes if isinstance(o, ThreadConflict)]
            assert len(won) == 1 and len(lost) == 3, outcomes
            assert (await two.get_thread(f"t-{round_}")).active_run_id == won[0]


async def test_a_claim_over_a_stale_read_loses(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two claims that both read the thread idle: the second one's write is refused (the
    concurrent race, interleaved by hand; SQL stores claim under a lock and read no stale)."""
    if not store.url.startswith("s3://"):
        pytest.skip("SQL stores read the thread under the write lock that claims it")
    from agent_runtime.stores.s3 import threads as s3_threads

    await store.create_thread(thread("t"))
    real = s3_threads.read_thread
    stale = await asyncio.to_thread(real, store.aws, "t")  # type: ignore[attr-defined]
    first = await run_on(store, "t")
    reads: list[str] = []

    def read_once_stale(aws: Any, thread_id: str) -> Any:
        reads.append(thread_id)
        return stale if len(reads) == 1 else real(aws, thread_id)

    monkeypatch.setattr(s3_threads, "read_thread", read_once_stale)
    with pytest.raises(ThreadConflict):
        await run_on(store, "t")
    assert len(reads) == 2  # written over the stale version, refused, read again
    assert (await store.get_thread("t")).active_run_id == first


async def test_a_thread_outlives_its_runs_retention(store_url: str) -> None:
    """With a retention (a TTL on every item of a finished run), the thread keeps none."""
    if not store_url.startswith("s3://"):
        pytest.skip("only DynamoDB items expire on their own")
    from agent_runtime.stores.s3.layout import TTL_ATTRIBUTE
    from agent_runtime.stores.s3.threads import thread_key

    async with open_store(store_url + "&retention=1d") as store:
        await store.create_thread(thread("t"))
        await finish(store, await run_on(store, "t"), {"kept": True})
        assert (await store.get_thread("t")).values == {"kept": True}
        aws = store.aws  # type: ignore[attr-defined]
        item = aws.dynamodb.get_item(TableName=aws.url.table, Key=thread_key("t"))["Item"]
        assert TTL_ATTRIBUTE not in item


async def write_history(store: RunStore, thread_id: str, text: str) -> str:
    """A run on the thread whose graph (tiny_graph: 4 checkpoints) ran under its id."""
    run_id = await run_on(store, thread_id)
    graph = tiny_graph(store.checkpointer())
    config = {"configurable": {"thread_id": run_id}}
    await graph.ainvoke({"text": text, "visited": []}, config, durability="sync")
    await finish(store, run_id, {"text": text + "!"})
    return run_id


async def test_history_is_newest_first_across_runs_and_pages(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create_thread(thread("t"))
    first = await write_history(store, "t", "one")
    second = await write_history(store, "t", "two")
    read: list[str] = []
    saver = store.checkpointer()
    original = saver.alist

    def counting(config: Any, **kwargs: Any) -> Any:
        read.append(config["configurable"]["thread_id"])
        return original(config, **kwargs)

    monkeypatch.setattr(saver, "alist", counting)
    newest = await store.thread_history("t", limit=2)
    assert read == [second]  # the older run is not read for the newest states
    assert [(s.run_id, s.step) for s in newest] == [(second, 2), (second, 1)]
    assert newest[0].values == {"text": "two!", "visited": ["first", "second"]}
    assert newest[0].next == [] and newest[1].next == ["second"]
    whole = await store.thread_history("t", limit=100)
    assert [(s.run_id, s.step) for s in whole] == [
        *((second, step) for step in (2, 1, 0, -1)),
        *((first, step) for step in (2, 1, 0, -1)),
    ]
    assert whole[-2].values == {"text": "one", "visited": []}  # step -1 holds only the input
    rest = await store.thread_history("t", limit=3, before=(second, newest[1].checkpoint_id))
    assert rest == whole[2:5]
    with pytest.raises(ThreadNotFound):
        await store.thread_history("absent")


async def test_copy_has_its_own_history_and_delete_takes_the_runs(store: RunStore) -> None:
    await store.create_thread(thread("src", namespace="default", metadata={"m": 1}))
    run_id = await write_history(store, "src", "hi")
    copy = await store.copy_thread("src", "dst", created_by=Actor(username="bob"))
    assert (copy.metadata, copy.values, copy.status) == (
        {"m": 1},
        {"text": "hi!"},
        ThreadStatus.IDLE,
    )
    assert copy.created_by is not None and copy.created_by.username == "bob"
    source_history = await store.thread_history("src", limit=10)
    with pytest.raises(ThreadConflict):
        await store.copy_thread("src", "dst")
    await store.delete_thread("src")
    with pytest.raises(ThreadNotFound):
        await store.get_thread("src")
    with pytest.raises(RunNotFound):
        await store.get_run(run_id)
    assert await store.checkpointer().aget_tuple({"configurable": {"thread_id": run_id}}) is None
    copied = await store.thread_history("dst", limit=10)
    assert [s.values for s in copied] == [s.values for s in source_history]
    assert len(copied) == 4
    await run_on(store, "dst")  # the copy takes runs of its own


async def test_a_delete_and_a_cancel_at_once_both_end(store_url: str) -> None:
    """A thread deleted while its waiting run is cancelled elsewhere: no deadlock, no error but
    the run being gone (the two lock the run and the thread in the same order)."""
    async with open_store(store_url) as one, open_store(store_url) as two:
        for round_ in range(5):
            tid = f"t-{round_}"
            await one.create_thread(thread(tid))
            run_id = await run_on(one, tid)
            await one.transition(run_id, RunStatus.RUNNING)
            await one.transition(run_id, RunStatus.INTERRUPTED)
            deleted, cancelled = await asyncio.gather(
                one.delete_thread(tid),
                two.transition(run_id, RunStatus.CANCELLED),
                return_exceptions=True,
            )
            assert deleted is None, deleted
            gone = isinstance(cancelled, RunNotFound)  # the delete came first
            assert not isinstance(cancelled, BaseException) or gone, cancelled
            with pytest.raises(ThreadNotFound):
                await two.get_thread(tid)


async def test_delete_refuses_a_busy_thread(store: RunStore) -> None:
    await store.create_thread(thread("t"))
    run_id = await run_on(store, "t")
    with pytest.raises(ThreadConflict):
        await store.delete_thread("t")
    await store.transition(run_id, RunStatus.CANCELLED)
    await store.delete_thread("t")
    with pytest.raises(ThreadNotFound):
        await store.delete_thread("t")
    assert await store.search_threads() == []
