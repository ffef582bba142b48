"""S3 + DynamoDB store only: URLs, missing resources, store init, TTL, payloads in S3, index
queries (LangGraph's conformance suite: test_langgraph_conformance.py), against a real moto server
over HTTP."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import timedelta
from typing import Any

import boto3
import pytest

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.stores import RunStatus, StepRecord, StepStatus, StoreError, open_store
from agent_runtime.stores.errors import InvalidTransition
from agent_runtime.stores.retries import FAULTS_ENV
from agent_runtime.stores.s3 import S3Store
from agent_runtime.stores.s3.config import parse_s3_url
from agent_runtime.stores.s3.layout import INLINE_LIMIT, TTL_ATTRIBUTE
from tests.conftest import CLI
from tests.engine.test_engine import workflow
from tests.engine.test_step_writes import CHAIN
from tests.moto_harness import MotoServer
from tests.stores.helpers import make_run
from tests.stores.test_checkpoints import LARGE, run_graph
from tests.stores.test_urls import open_error


def clients(url: str) -> tuple[Any, Any]:
    config = parse_s3_url(url)
    kwargs = {"endpoint_url": config.endpoint, "region_name": "us-east-1"}
    return boto3.client("dynamodb", **kwargs), boto3.client("s3", **kwargs)


def objects(url: str) -> list[str]:
    config = parse_s3_url(url)
    _, s3 = clients(url)
    page = s3.list_objects_v2(Bucket=config.bucket)
    return [o["Key"] for o in page.get("Contents", [])]


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("s3://AKIAEXAMPLE:s3cr3t-key@bucket/p?table=t", "before '@'"),
        ("s3://bucket/p?table=t&aws_secret_access_key=s3cr3t-key", "aws_secret_access_key"),
        ("s3://bucket/p?table=t&access_key=s3cr3t-key", "access_key"),
        ("s3://bucket/p?table=t&session_token=s3cr3t-key", "session_token"),
    ],
)
async def test_credentials_in_the_url_are_refused_without_showing_them(
    url: str, names: str
) -> None:
    message = await open_error(url)
    assert names in message and "credential chain" in message
    assert "s3cr3t" not in message and "AKIAEXAMPLE" not in message


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("s3://Bad_Bucket/p", "bucket"),
        ("s3:///p?table=t", "bucket"),
        ("s3://bucket/p?table=x", "table"),
        ("s3://bucket/p?tabel=runs", "tabel"),
        ("s3://bucket/p?endpoint=ftp://x", "endpoint"),
        ("s3://bucket/p?retention=30", "retention"),
    ],
)
async def test_bad_urls_name_the_part(url: str, names: str) -> None:
    assert names in await open_error(url)


async def test_missing_table_and_bucket_tell_to_run_store_init(
    moto_server: MotoServer, s3_url_uninitialized: str
) -> None:
    message = await open_error(s3_url_uninitialized)
    assert "does not exist" in message and "table" in message
    assert f"configurable-agents store init '{parse_s3_url(s3_url_uninitialized).shown}'" in message
    # The table without the bucket: the bucket is named.
    config = parse_s3_url(s3_url_uninitialized)
    _, s3 = clients(s3_url_uninitialized)
    await S3Store(s3_url_uninitialized).init()
    s3.delete_bucket(Bucket=config.bucket)
    message = await open_error(s3_url_uninitialized)
    assert f"S3 bucket {config.bucket!r}" in message and "store init" in message
    # Opening never creates anything.
    assert config.bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


async def test_store_init_is_idempotent(s3_url_uninitialized: str) -> None:
    first = await S3Store(s3_url_uninitialized).init()
    assert any(line.startswith("created DynamoDB table") for line in first)
    assert any(line.startswith("created S3 bucket") for line in first)
    again = await S3Store(s3_url_uninitialized).init()
    assert not any(line.startswith("created") for line in again), again
    dynamodb, _ = clients(s3_url_uninitialized)
    table = parse_s3_url(s3_url_uninitialized).table
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == TTL_ATTRIBUTE
    async with open_store(s3_url_uninitialized) as store:
        assert await store.list_runs() is not None


async def test_unreachable_server_is_one_clear_line() -> None:
    url = "s3://bucket/p?table=runs&region=us-east-1&endpoint=http://127.0.0.1:1"
    message = await open_error(url)
    assert "cannot open" in message and "127.0.0.1:1" in message
    assert "testing-s3cr3t" not in message


async def test_large_documents_go_to_s3_and_come_back(s3_url: str) -> None:
    async with open_store(s3_url) as store:
        run = await store.create_run(make_run(input={"document": LARGE}))
        [record] = objects(s3_url)
        assert f"/runs/{run.id}/record-" in f"/{record}"
        await store.transition(run.id, RunStatus.RUNNING)
        assert len(objects(s3_url)) == 1  # the old version's object is gone
        small = await store.transition(run.id, RunStatus.SUCCEEDED, input={"document": "short"})
        assert objects(s3_url) == []  # back inline
        assert (await store.get_run(run.id)) == small
        await store.append_event(run.id, "big", {"blob": LARGE})
        await run_graph(store, run.id, LARGE)
        assert len(objects(s3_url)) >= 2  # the event and the checkpoints
        assert [e.data["blob"] for e in await store.list_events(run.id)] == [LARGE]
        assert small.finished_at is not None
        assert (
            await store.delete_runs(finished_before=small.finished_at + timedelta(seconds=1)) == 1
        )
        assert objects(s3_url) == []


async def test_finished_runs_carry_a_ttl_attribute(s3_url: str) -> None:
    dynamodb, _ = clients(s3_url)
    table = parse_s3_url(s3_url).table
    async with open_store(f"{s3_url}&retention=30d") as store:
        run = await store.create_run(make_run())
        key = {"pk": {"S": f"run#{run.id}"}, "sk": {"S": "run"}}
        assert TTL_ATTRIBUTE not in dynamodb.get_item(TableName=table, Key=key)["Item"]
        await store.transition(run.id, RunStatus.RUNNING)
        done = await store.transition(run.id, RunStatus.SUCCEEDED)
        item = dynamodb.get_item(TableName=table, Key=key)["Item"]
        assert done.finished_at is not None
        expected = (done.finished_at + timedelta(days=30)).timestamp()
        assert abs(int(item[TTL_ATTRIBUTE]["N"]) - expected) <= 1


async def test_inline_limit_fits_an_item() -> None:
    assert INLINE_LIMIT < 400 * 1024 - 20_000  # room for keys and index attributes


async def test_listing_and_claiming_use_index_queries_never_scans(
    moto_server: MotoServer, s3_url: str
) -> None:
    """Every DynamoDB request the store makes is recorded by a botocore hook: no Scan."""
    async with open_store(s3_url) as store:
        assert isinstance(store, S3Store)
        operations: list[str] = []
        store.aws.dynamodb.meta.events.register(
            "before-call.dynamodb.*",
            lambda model, **_: operations.append(model.name),
        )
        for i in range(5):
            await store.create_run(make_run(f"run-{i}", workflow="wf" if i % 2 else "other"))
        await store.list_runs(workflow="wf", status=RunStatus.QUEUED, limit=1)
        await store.list_runs(status=RunStatus.QUEUED)
        await store.list_runs(workflow="default/other")
        assert await store.claim_run(owner="a", ttl=30) is not None
    assert "Scan" not in operations
    assert operations.count("Query") >= 4


async def test_store_errors_are_store_errors(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the error asserted is DynamoDB's own: a fault injected into the last retry would stand in
    # for it (CI fails 0.5% of store calls on purpose)
    monkeypatch.delenv(FAULTS_ENV, raising=False)
    async with open_store(s3_url) as store:
        dynamodb, _ = clients(s3_url)
        dynamodb.delete_table(TableName=parse_s3_url(s3_url).table)
        with pytest.raises(StoreError) as info:
            await store.get_run("anything")
        assert "ResourceNotFoundException" in str(info.value)
        assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- requests per step


def record_requests(store: S3Store) -> list[str]:
    """Every DynamoDB and S3 request the store makes from now on, by operation name."""
    seen: list[str] = []
    for client in (store.aws.dynamodb, store.aws.s3):
        client.meta.events.register("before-call.*.*", lambda model, **_: seen.append(model.name))
    return seen


async def test_every_step_is_one_transaction(s3_url: str) -> None:
    """3 nodes: one TransactWriteItems a step (checkpoint, task writes, step record, events and
    the cancel check), plus creating the run, reading it, starting it, LangGraph's first step
    and finishing: 8 requests, where writing each alone cost about 35. A run that never started
    has no checkpoint to read (``CoalescingSaver.expect_new``)."""
    async with open_store(s3_url) as store:
        assert isinstance(store, S3Store)
        dispatcher = LocalDispatcher()
        engine = Engine(store, dispatcher)
        wf = workflow(CHAIN % "0s")
        await engine.execute((await engine.create_run(wf, {"topic": "t"})).id)  # warm
        seen = record_requests(store)
        record = await engine.create_run(wf, {"topic": "t"})
        done = await engine.execute(record.id)
        await dispatcher.aclose()
        assert done.status == RunStatus.SUCCEEDED and done.output == {"c": "ok"}
        assert sorted(seen) == sorted(
            [
                "PutItem",  # create
                "GetItem",  # execute reads the run
                *["TransactWriteItems"] * 6,  # start, LangGraph's input step, a, b, c, finish
            ]
        ), seen
        events = await store.list_events(record.id)
        assert [e.seq for e in events] == list(range(1, 9))
        assert [(s.node, s.status) for s in await store.list_steps(record.id)] == [
            (n, StepStatus.SUCCEEDED) for n in "abc"
        ]


async def test_a_cancel_is_seen_by_the_next_step_commit(s3_url: str) -> None:
    """Cancelled by another process (its own store), the run stops at the next node: the step's
    commit carries the check of the lease the cancel ended, so the step after the cancel is not
    written (fencing), and the items there were expire with the run (the cancel set their TTL)."""
    s3_url += "&retention=30d"
    async with open_store(s3_url) as store, open_store(s3_url) as other:
        dispatcher = LocalDispatcher()
        engine = Engine(store, dispatcher)
        record = await engine.create_run(workflow(CHAIN % "300ms"), {"topic": "t"})
        task = asyncio.create_task(engine.execute(record.id))
        for _ in range(250):  # until node a shows as running
            if await other.list_steps(record.id):
                break
            await asyncio.sleep(0.02)
        await other.transition(record.id, RunStatus.CANCELLED)
        done = await task
        await dispatcher.aclose()
        assert done.status == RunStatus.CANCELLED
        steps = await store.list_steps(record.id)
        assert [s.node for s in steps if s.status == StepStatus.SUCCEEDED] in ([], ["a"])
        assert done.finished_at is not None
        ttl = int((done.finished_at + timedelta(days=30)).timestamp())
        items = partition_items(s3_url, record.id)
        assert [it["sk"]["S"] for it in items if TTL_ATTRIBUTE not in it] == []
        assert {int(it[TTL_ATTRIBUTE]["N"]) for it in items} == {ttl}


async def test_a_stale_record_in_memory_is_read_again(s3_url: str) -> None:
    """Transitions write over the version this process last saw; one changed by another
    process is read again, and a transition the newer status forbids is refused."""
    async with open_store(s3_url) as one, open_store(s3_url) as two:
        run = await one.create_run(make_run())
        await one.transition(run.id, RunStatus.RUNNING)
        await two.transition(run.id, RunStatus.CANCELLED)
        with pytest.raises(InvalidTransition):
            await one.transition(run.id, RunStatus.SUCCEEDED)
        assert (await one.get_run(run.id)).status == RunStatus.CANCELLED
        run2 = await one.create_run(make_run())
        await two.transition(run2.id, RunStatus.RUNNING)
        moved = await one.transition(run2.id, RunStatus.SUCCEEDED, output={"x": 1})
        assert (await two.get_run(run2.id)) == moved


# ---------------------------------------------------------------------- retention


def partition_items(url: str, run_id: str) -> list[dict[str, Any]]:
    dynamodb, _ = clients(url)
    table = parse_s3_url(url).table
    items: list[dict[str, Any]] = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"run#{run_id}"}},
        ConsistentRead=True,
    )["Items"]
    return items


def key_items(url: str) -> list[dict[str, Any]]:
    dynamodb, _ = clients(url)
    table = parse_s3_url(url).table
    items = dynamodb.scan(TableName=table)["Items"]
    return [it for it in items if it["pk"]["S"].startswith("key#")]


async def test_every_item_of_a_finished_run_expires_with_it(s3_url: str) -> None:
    url = f"{s3_url}&retention=30d"
    async with open_store(url) as store:
        dispatcher = LocalDispatcher()
        engine = Engine(store, dispatcher)
        wf = workflow(CHAIN % "0s")
        record = await engine.create_run(wf, {"topic": LARGE}, idempotency_key="k-1")
        done = await engine.execute(record.id)
        await dispatcher.aclose()
        assert done.status == RunStatus.SUCCEEDED and done.finished_at is not None
        expected = int((done.finished_at + timedelta(days=30)).timestamp())
        items = partition_items(url, record.id)
        kinds = {it["sk"]["S"].split("#")[0] for it in items}
        assert kinds == {"run", "step", "event", "cp"}, kinds  # task writes: in checkpoints
        [key] = key_items(url)
        for item in [*items, key]:
            assert int(item[TTL_ATTRIBUTE]["N"]) == expected, item["sk"]
        assert objects(url)  # the large input went to S3 (record, checkpoints, writes)

        # A failed run that goes on is not expiring any more; failing again, it is.
        run = await store.create_run(make_run())
        await store.transition(run.id, RunStatus.RUNNING)
        await store.record_step(StepRecord(run_id=run.id, node="a"), event=("node.started", {}))
        await run_graph(store, run.id)
        saver = store.checkpointer()
        latest = await saver.aget_tuple({"configurable": {"thread_id": run.id}})
        assert latest is not None
        await saver.aput_writes(latest.config, [("text", "pending")], "task-1")
        failed = await store.transition(run.id, RunStatus.FAILED)
        items = partition_items(url, run.id)
        assert {it["sk"]["S"].split("#")[0] for it in items} == {"run", "step", "event", "cp", "w"}
        assert all(TTL_ATTRIBUTE in it for it in items)
        await store.transition(run.id, RunStatus.QUEUED)
        assert not any(TTL_ATTRIBUTE in it for it in partition_items(url, run.id))
        await store.transition(run.id, RunStatus.RUNNING)
        again = await store.transition(run.id, RunStatus.FAILED)
        assert again.finished_at is not None and again.finished_at > failed.finished_at  # type: ignore[operator]
        ttl = int((again.finished_at + timedelta(days=30)).timestamp())
        assert {int(it[TTL_ATTRIBUTE]["N"]) for it in partition_items(url, run.id)} == {ttl}


async def test_runs_prune_removes_everything_also_of_runs_dynamodb_expired(
    s3_url: str, cli_env: dict[str, str]
) -> None:
    """moto keeps TTL attributes but never expires items: the test deletes the items of one
    run as DynamoDB's TTL would, and prunes another the usual way."""
    url = f"{s3_url}&retention=1h"
    async with open_store(url) as store:
        expired, pruned, live = [await store.create_run(make_run()) for _ in range(3)]
        for run in (expired, pruned, live):
            await store.transition(run.id, RunStatus.RUNNING)
            await run_graph(store, run.id, LARGE)
            await store.append_event(run.id, "big", {"blob": LARGE})
        for run in (expired, pruned):
            await store.transition(run.id, RunStatus.SUCCEEDED)
    dynamodb, _ = clients(url)
    table = parse_s3_url(url).table
    for item in partition_items(url, expired.id):  # what DynamoDB's TTL does, an hour later
        dynamodb.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    prefix = parse_s3_url(url).object_key("runs")
    folders = {key.removeprefix(prefix + "/").split("/")[0] for key in objects(url)}
    assert folders == {expired.id, pruned.id, live.id}

    done = await asyncio.to_thread(
        subprocess.run,
        [*CLI, "runs", "prune", "--older-than", "0s", "--store", url],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "pruned 1 run(s)" in done.stderr
    assert partition_items(url, pruned.id) == []
    folders = {key.removeprefix(prefix + "/").split("/")[0] for key in objects(url)}
    assert folders == {live.id}
    async with open_store(url) as store:
        assert (await store.get_run(live.id)).status == RunStatus.RUNNING
        assert [e.data["blob"] for e in await store.list_events(live.id)] == [LARGE]


async def test_listing_every_thread_and_copying_one(s3_url: str) -> None:
    """``list(None)`` (an admin path: a Scan) sees every thread, newest first; a copied thread
    keeps its large state when the source is deleted (its S3 objects are copied)."""
    async with open_store(s3_url) as store:
        await run_graph(store, "thread-a", LARGE)
        await run_graph(store, "thread-b", "small")
        saver = store.checkpointer()
        every = [t async for t in saver.alist(None)]
        threads = [t.config["configurable"]["thread_id"] for t in every]
        assert set(threads) == {"thread-a", "thread-b"}
        ids = [t.checkpoint["id"] for t in every]
        assert ids == sorted(ids, reverse=True)
        assert len([t async for t in saver.alist(None, limit=2)]) == 2
        await saver.acopy_thread("thread-a", "thread-c")
        await saver.adelete_thread("thread-a")
        copied = await saver.aget_tuple({"configurable": {"thread_id": "thread-c"}})
        assert copied is not None
        assert copied.checkpoint["channel_values"]["text"] == LARGE + "!"


def transaction_size(entries: list[dict[str, Any]]) -> int:
    """The aggregate size of the items put, as DynamoDB counts it (names plus raw values)."""
    total = 0
    for entry in entries:
        for name, value in entry.get("Put", {}).get("Item", {}).items():
            raw = next(iter(value.values()))
            total += len(name) + len(raw if isinstance(raw, bytes) else str(raw).encode())
    return total


async def test_a_step_past_dynamodb_transaction_limits_is_written_whole(s3_url: str) -> None:
    """150 task writes (over 100 items) and 14 of 330 KB (over 4 MB, each kept inline) in one
    commit."""
    async with open_store(s3_url) as store:
        saver = store.checkpointer()
        await run_graph(store, "wide", "x")
        latest = await saver.aget_tuple({"configurable": {"thread_id": "wide"}})
        assert latest is not None
        assert isinstance(store, S3Store)
        sizes: list[int] = []  # moto checks the 100 items, not the 4 MB: measure the requests
        store.aws.dynamodb.meta.events.register(
            "provide-client-params.dynamodb.TransactWriteItems",
            lambda params, **_: sizes.append(transaction_size(params["TransactItems"])),
        )
        small = [(f"c{i}", i) for i in range(150)]
        big = [(f"big{i}", chr(97 + i) * 330_000) for i in range(14)]
        await asyncio.gather(
            saver.aput_writes(latest.config, small, "task-small"),
            saver.aput_writes(latest.config, big, "task-big"),
        )
        again = await saver.aget_tuple(latest.config)
        assert again is not None
        written = {(task, channel): value for task, channel, value in again.pending_writes}
        assert len(written) == 164
        assert written["task-small", "c149"] == 149
        assert written["task-big", "big13"] == "n" * 330_000
        assert objects(s3_url) == []  # all inline: the transactions were cut by size
        assert len(sizes) >= 3 and max(sizes) <= 4 * 1024 * 1024 < sum(sizes), sizes
