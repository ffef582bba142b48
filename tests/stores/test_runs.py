"""Run-store conformance: run records, idempotency, listing and pagination."""

from __future__ import annotations

import random
from datetime import timedelta, timezone

import pytest

from agent_runtime.stores import RunNotFound, RunRecord, RunStatus, RunStore, StoreError
from tests.stores.helpers import BASE, make_run


def full_run() -> RunRecord:
    """A run with every field set, nested and unicode values included."""
    return make_run(
        "run-full",
        namespace="team-a",
        workflow="review",
        status=RunStatus.SUCCEEDED,
        created_at=BASE,
        updated_at=BASE + timedelta(minutes=5, microseconds=7),
        started_at=BASE + timedelta(seconds=1, microseconds=123_456),
        finished_at=BASE + timedelta(minutes=4),
        input={
            "question": "Ça va? ✓ 日本",
            "n": 3,
            "ratio": 0.25,
            "flags": [True, False, None],
            "nested": {"list": [{"a": 1}, {"b": [1, 2, {"c": "d"}]}], "empty": {}},
        },
        output={"answer": "ok", "scores": [0.1, 0.9], "meta": {"tokens": {"in": 10, "out": 20}}},
        error={"code": "timeout", "message": "took too long", "details": {"node": "b"}},
        interrupt={"question": "Approve?", "fields": ["approved", "comment"]},
        idempotency_key="key-1",
        lease_owner="gateway-0",
        lease_expires_at=BASE + timedelta(minutes=10),
    )


async def test_create_and_get_round_trip_every_field(store: RunStore) -> None:
    run = full_run()
    created = await store.create_run(run)
    assert created == run
    fetched = await store.get_run(run.id)
    assert fetched == run
    assert fetched.model_dump(mode="json") == run.model_dump(mode="json")
    assert fetched.spec == run.spec
    assert fetched.created_at.utcoffset() is not None


async def test_round_trip_of_defaults_and_other_timezones(store: RunStore) -> None:
    plus5 = timezone(timedelta(hours=5))
    run = make_run(created_at=BASE.astimezone(plus5), started_at=None)
    await store.create_run(run)
    fetched = await store.get_run(run.id)
    assert fetched == run
    assert fetched.created_at == BASE
    assert fetched.output is None and fetched.error is None and fetched.interrupt is None
    assert fetched.idempotency_key is None and fetched.lease_owner is None


async def test_get_unknown_run_raises_run_not_found(store: RunStore) -> None:
    with pytest.raises(RunNotFound) as info:
        await store.get_run("no-such-run")
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, StoreError)
    assert "no-such-run" in str(info.value)


async def test_create_same_id_twice_raises_and_keeps_the_first(store: RunStore) -> None:
    first = make_run("run-dup", input={"v": 1})
    await store.create_run(first)
    with pytest.raises(StoreError):
        await store.create_run(make_run("run-dup", input={"v": 2}))
    with pytest.raises(StoreError):
        await store.create_run(make_run("run-dup", input={"v": 3}, idempotency_key="other"))
    assert await store.get_run("run-dup") == first


async def test_same_id_with_idempotency_keys_on_both_raises(store: RunStore) -> None:
    await store.create_run(make_run("run-k", idempotency_key="k1"))
    with pytest.raises(StoreError):
        await store.create_run(make_run("run-k", idempotency_key="k2"))


async def test_idempotency_key_returns_the_first_run_unchanged(store: RunStore) -> None:
    first = make_run("run-a", idempotency_key="req-1", input={"v": 1})
    assert await store.create_run(first) == first
    again = await store.create_run(make_run("run-b", idempotency_key="req-1", input={"v": 2}))
    assert again == first
    with pytest.raises(RunNotFound):
        await store.get_run("run-b")
    assert await store.get_run("run-a") == first
    page = await store.list_runs()
    assert [r.id for r in page.items] == ["run-a"]


async def test_idempotency_key_is_scoped_to_namespace_and_workflow(store: RunStore) -> None:
    runs = [
        make_run("run-1", workflow="wf", namespace="default", idempotency_key="same"),
        make_run("run-2", workflow="other", namespace="default", idempotency_key="same"),
        make_run("run-3", workflow="wf", namespace="team-a", idempotency_key="same"),
    ]
    for run in runs:
        assert await store.create_run(run) == run
    for run in runs:
        assert await store.get_run(run.id) == run
    # Runs without a key never collide.
    await store.create_run(make_run("run-4"))
    await store.create_run(make_run("run-5"))
    assert len((await store.list_runs()).items) == 5


async def test_list_empty_store(store: RunStore) -> None:
    page = await store.list_runs()
    assert page.items == []
    assert page.next_cursor is None


async def test_list_newest_first(store: RunStore) -> None:
    runs = [make_run(f"run-{i}", created_at=BASE + timedelta(minutes=i)) for i in range(5)]
    for run in random.Random(1).sample(runs, len(runs)):
        await store.create_run(run)
    page = await store.list_runs()
    assert [r.id for r in page.items] == [f"run-{i}" for i in reversed(range(5))]
    assert page.items[0] == runs[4]
    assert page.next_cursor is None


async def test_list_orders_by_instant_across_timezones(store: RunStore) -> None:
    plus5, minus3 = timezone(timedelta(hours=5)), timezone(timedelta(hours=-3))
    await store.create_run(make_run("noon", created_at=BASE))
    await store.create_run(
        make_run("nine", created_at=(BASE - timedelta(hours=3)).astimezone(plus5))
    )
    await store.create_run(
        make_run("one", created_at=(BASE + timedelta(hours=1)).astimezone(minus3))
    )
    page = await store.list_runs()
    assert [r.id for r in page.items] == ["one", "noon", "nine"]
    first = await store.list_runs(limit=1)
    rest = await store.list_runs(limit=5, cursor=first.next_cursor)
    assert [r.id for r in rest.items] == ["noon", "nine"]


async def test_list_filters(store: RunStore) -> None:
    specs = [
        ("a1", "default", "alpha", RunStatus.QUEUED),
        ("a2", "default", "alpha", RunStatus.RUNNING),
        ("a3", "team-a", "alpha", RunStatus.SUCCEEDED),
        ("b1", "default", "beta", RunStatus.SUCCEEDED),
        ("b2", "team-a", "beta", RunStatus.FAILED),
    ]
    for i, (run_id, ns, wf, status) in enumerate(specs):
        await store.create_run(
            make_run(
                run_id,
                namespace=ns,
                workflow=wf,
                status=status,
                created_at=BASE + timedelta(seconds=i),
            )
        )

    async def ids(**filters: object) -> list[str]:
        return [r.id for r in (await store.list_runs(**filters)).items]  # type: ignore[arg-type]

    assert await ids(workflow="alpha") == ["a3", "a2", "a1"]
    assert await ids(workflow="default/alpha") == ["a2", "a1"]
    assert await ids(workflow="team-a/alpha") == ["a3"]
    assert await ids(workflow="team-a/beta") == ["b2"]
    assert await ids(workflow="gamma") == []
    assert await ids(workflow="team-b/alpha") == []
    assert await ids(status=RunStatus.SUCCEEDED) == ["b1", "a3"]
    assert await ids(status=RunStatus.INTERRUPTED) == []
    assert await ids(workflow="alpha", status=RunStatus.SUCCEEDED) == ["a3"]
    assert await ids(workflow="default/beta", status=RunStatus.SUCCEEDED) == ["b1"]
    assert await ids() == ["b2", "b1", "a3", "a2", "a1"]


async def collect_pages(store: RunStore, *, limit: int, **filters: object) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(100):
        page = await store.list_runs(limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        assert len(page.items) <= limit
        pages.append([r.id for r in page.items])
        cursor = page.next_cursor
        if cursor is None:
            return pages
    raise AssertionError("pagination did not end")


async def test_pagination_visits_every_run_once_in_order(store: RunStore) -> None:
    runs = [make_run(f"run-{i:02d}", created_at=BASE + timedelta(seconds=i)) for i in range(25)]
    for run in random.Random(7).sample(runs, len(runs)):
        await store.create_run(run)
    pages = await collect_pages(store, limit=7)
    flat = [run_id for page in pages for run_id in page]
    assert flat == [f"run-{i:02d}" for i in reversed(range(25))]
    assert [len(p) for p in pages if p] == [7, 7, 7, 4]


async def test_pagination_with_filter_and_equal_timestamps(store: RunStore) -> None:
    for i in range(12):
        await store.create_run(make_run(f"same-{i:02d}", workflow="wf", created_at=BASE))
        await store.create_run(make_run(f"other-{i:02d}", workflow="other", created_at=BASE))
    pages = await collect_pages(store, limit=5, workflow="wf")
    flat = [run_id for page in pages for run_id in page]
    assert sorted(flat) == [f"same-{i:02d}" for i in range(12)]
    assert len(flat) == len(set(flat))


async def test_pagination_with_status_filter(store: RunStore) -> None:
    for i in range(10):
        status = RunStatus.SUCCEEDED if i % 2 else RunStatus.FAILED
        await store.create_run(
            make_run(f"run-{i}", status=status, created_at=BASE + timedelta(seconds=i))
        )
    pages = await collect_pages(store, limit=2, status=RunStatus.SUCCEEDED)
    assert [run_id for page in pages for run_id in page] == [
        "run-9",
        "run-7",
        "run-5",
        "run-3",
        "run-1",
    ]


@pytest.mark.parametrize("cursor", ["garbage", "not-a-date|run-1", "|", "2024-13-45T00:00:00|x"])
async def test_invalid_cursor_raises_store_error(store: RunStore, cursor: str) -> None:
    await store.create_run(make_run())
    with pytest.raises(StoreError):
        await store.list_runs(cursor=cursor)


async def test_count_runs_by_status(store: RunStore) -> None:
    assert await store.count_runs(RunStatus.QUEUED) == 0
    runs = [await store.create_run(make_run()) for _ in range(7)]
    for run in runs[:3]:
        await store.transition(run.id, RunStatus.RUNNING)
    await store.transition(runs[0].id, RunStatus.SUCCEEDED)
    assert await store.count_runs(RunStatus.QUEUED) == 4
    assert await store.count_runs(RunStatus.RUNNING) == 2
    assert await store.count_runs(RunStatus.SUCCEEDED) == 1
    assert await store.count_runs(RunStatus.FAILED) == 0


async def test_runs_record_who_started_them_and_list_by_them(store: RunStore) -> None:
    from agent_runtime.stores import Actor

    alice = Actor(username="alice", groups=["team-a"])
    sa = Actor(
        username="system:serviceaccount:ci:bot",
        groups=["system:serviceaccounts"],
        service_account_namespace="ci",
    )
    for i in range(3):
        await store.create_run(make_run(f"a-{i}", created_by=alice))
    await store.create_run(make_run("bot", created_by=sa))
    await store.create_run(make_run("nobody"))
    mine = await store.list_runs(created_by="alice", limit=10)
    assert sorted(r.id for r in mine.items) == ["a-0", "a-1", "a-2"]
    assert mine.items[0].created_by == alice
    bots = await store.list_runs(created_by=sa.username, namespaces=["default"])
    assert [r.id for r in bots.items] == ["bot"]
    assert bots.items[0].created_by is not None
    assert bots.items[0].created_by.service_account_namespace == "ci"
    assert (await store.list_runs(created_by="mallory")).items == []
    # who changed it is kept through transitions
    moved = await store.transition("a-0", RunStatus.CANCELLED, cancelled_by=sa)
    assert moved.cancelled_by == sa and moved.created_by == alice
    assert (await store.get_run("a-0")).cancelled_by == sa


async def test_listing_only_some_namespaces(store: RunStore) -> None:
    for ns, n in (("team-a", 3), ("team-b", 2), ("team-c", 1)):
        for i in range(n):
            await store.create_run(
                make_run(f"{ns}-{i}", namespace=ns, created_at=BASE + timedelta(minutes=i))
            )
    ab = await store.list_runs(namespaces=["team-a", "team-b"], limit=3)
    assert [r.id for r in ab.items] == ["team-a-2", "team-b-1", "team-a-1"]
    rest = await store.list_runs(namespaces=["team-a", "team-b"], limit=3, cursor=ab.next_cursor)
    assert sorted(r.id for r in rest.items) == ["team-a-0", "team-b-0"]
    assert rest.next_cursor is None
    queued = await store.list_runs(namespaces=["team-c"], status=RunStatus.QUEUED)
    assert [r.id for r in queued.items] == ["team-c-0"]
    assert (await store.list_runs(namespaces=[])).items == []
    assert (await store.list_runs(namespaces=["team-b"], workflow="team-a/wf")).items == []
