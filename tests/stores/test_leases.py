"""Run-store conformance: leases (claim, renew, release, takeover), within and across instances."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest

from agent_runtime.stores import RunStatus, RunStore, open_store
from agent_runtime.stores.postgres import schema as postgres_schema
from agent_runtime.stores.records import utcnow
from agent_runtime.stores.sqlite import schema as sqlite_schema
from tests.stores.helpers import BASE, assert_between, make_run

SHORT = 0.2  # seconds: a lease that expires during the test
WAIT = 0.5  # comfortably longer than SHORT


async def test_claim_takes_the_oldest_queued_run(store: RunStore) -> None:
    for run_id, minutes in [("newest", 3), ("oldest", 0), ("middle", 1)]:
        await store.create_run(make_run(run_id, created_at=BASE + timedelta(minutes=minutes)))
    await store.create_run(
        make_run("old-but-done", status=RunStatus.SUCCEEDED, created_at=BASE - timedelta(days=1))
    )
    before = utcnow()
    claimed = await store.claim_run(owner="owner-a", ttl=30)
    after = utcnow()
    assert claimed is not None and claimed.id == "oldest"
    assert claimed.lease_owner == "owner-a"
    assert_between(
        claimed.lease_expires_at, before + timedelta(seconds=30), after + timedelta(seconds=30)
    )
    stored = await store.get_run("oldest")
    assert (stored.lease_owner, stored.lease_expires_at) == ("owner-a", claimed.lease_expires_at)
    assert stored.input == claimed.input and stored.spec == claimed.spec

    # A leased run is not handed out again: the next claims take the next oldest.
    second = await store.claim_run(owner="owner-b", ttl=30)
    third = await store.claim_run(owner="owner-c", ttl=30)
    assert second is not None and second.id == "middle" and second.lease_owner == "owner-b"
    assert third is not None and third.id == "newest"
    assert await store.claim_run(owner="owner-d", ttl=30) is None
    assert (await store.get_run("oldest")).lease_owner == "owner-a"


def skip_unless_fair(store_url: str) -> None:
    if store_url.startswith("s3://"):
        pytest.skip("the s3 store claims the oldest claimable run of any namespace")


async def crowd(store: RunStore) -> None:
    """50 runs queued in namespace a, then 2 in b."""
    for i in range(50):
        await store.create_run(
            make_run(f"a-{i:02d}", namespace="a", created_at=BASE + timedelta(seconds=i))
        )
    for i in range(2):
        await store.create_run(
            make_run(f"b-{i}", namespace="b", created_at=BASE + timedelta(minutes=5, seconds=i))
        )


async def test_claims_take_namespaces_in_turn(store: RunStore, store_url: str) -> None:
    skip_unless_fair(store_url)
    await crowd(store)
    # claims holding their leases: b holds fewer, so its runs come between a's
    held = [await store.claim_run(owner="o", ttl=30) for _ in range(4)]
    assert [r.id for r in held if r] == ["a-00", "b-0", "a-01", "b-1"]
    # b has none left: a's next, oldest first
    after = await store.claim_run(owner="o", ttl=30)
    assert after is not None and after.id == "a-02"


async def test_claims_finished_at_once_still_take_namespaces_in_turn(
    store: RunStore, store_url: str
) -> None:
    # one claimer that finishes each run before the next claim: no namespace holds a lease
    # when it claims, so turns, not lease counts, keep b from waiting behind all of a's runs
    skip_unless_fair(store_url)
    await crowd(store)
    order = []
    for _ in range(5):
        run = await store.claim_run(owner="o", ttl=30)
        assert run is not None
        order.append(run.id)
        await store.transition(run.id, RunStatus.RUNNING)
        await store.transition(run.id, RunStatus.SUCCEEDED)
    assert order == ["a-00", "b-0", "a-01", "b-1", "a-02"]


async def test_a_replica_claims_from_the_namespace_holding_fewest_leases(
    store: RunStore, store_url: str
) -> None:
    skip_unless_fair(store_url)
    for i in range(3):
        await store.create_run(
            make_run(f"a-{i}", namespace="a", created_at=BASE + timedelta(seconds=i))
        )
    await store.create_run(make_run("z-0", namespace="z", created_at=BASE + timedelta(minutes=1)))
    first = await store.claim_run(owner="replica-1", ttl=30)
    assert first is not None and first.id == "a-0"
    # another replica, which has claimed nothing yet: a holds a lease, z none
    async with open_store(store_url) as other:
        second = await other.claim_run(owner="replica-2", ttl=30)
    assert second is not None and second.id == "z-0"


async def test_fair_claims_leave_runs_backing_off_alone(store: RunStore, store_url: str) -> None:
    skip_unless_fair(store_url)
    await store.create_run(make_run("a-0", namespace="a", created_at=BASE))
    await store.create_run(make_run("a-1", namespace="a", created_at=BASE + timedelta(seconds=1)))
    later = utcnow() + timedelta(minutes=1)  # waiting for agents, out of reach of claims
    await store.create_run(make_run("b-0", namespace="b", created_at=BASE, lease_expires_at=later))
    claimed = [await store.claim_run(owner="o", ttl=30) for _ in range(3)]
    assert [r.id if r else None for r in claimed] == ["a-0", "a-1", None]


async def test_a_database_from_before_fair_claims_migrates(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    skip_unless_fair(store_url)
    schema = postgres_schema if store_url.startswith("postgresql") else sqlite_schema
    fair = next(i for i, script in enumerate(schema.MIGRATIONS) if "ca_runs_leased" in script)
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:fair])
        async with open_store(store_url) as old:
            for i in range(3):
                created = BASE + timedelta(seconds=i)
                await old.create_run(make_run(f"a-{i}", namespace="a", created_at=created))
            await old.create_run(make_run("b-0", namespace="b", created_at=BASE + timedelta(1)))
    async with open_store(store_url) as store:
        claimed = [await store.claim_run(owner="o", ttl=30) for _ in range(3)]
    assert [r.id if r else None for r in claimed] == ["a-0", "b-0", "a-1"]


async def test_claim_on_empty_store(store: RunStore) -> None:
    assert await store.claim_run(owner="owner-a", ttl=30) is None


async def test_concurrent_claimers_one_winner(store: RunStore) -> None:
    run = await store.create_run(make_run())
    results = await asyncio.gather(
        *(store.claim_run(owner=f"owner-{i}", ttl=30) for i in range(10))
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].id == run.id
    assert (await store.get_run(run.id)).lease_owner == winners[0].lease_owner


async def test_concurrent_claimers_across_instances_one_winner(
    store: RunStore, store_url: str
) -> None:
    run = await store.create_run(make_run())
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(store_url)) for _ in range(10)]
        results = await asyncio.gather(
            *(s.claim_run(owner=f"process-{i}", ttl=30) for i, s in enumerate(stores))
        )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].id == run.id
    assert (await store.get_run(run.id)).lease_owner == winners[0].lease_owner


async def test_concurrent_claimers_across_instances_share_several_runs(
    store: RunStore, store_url: str
) -> None:
    for i in range(3):
        await store.create_run(make_run(f"run-{i}", created_at=BASE + timedelta(seconds=i)))
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(store_url)) for _ in range(5)]
        results = await asyncio.gather(
            *(
                s.claim_run(owner=f"process-{i}-{j}", ttl=30)
                for i, s in enumerate(stores)
                for j in range(3)
            )
        )
    winners = [r for r in results if r is not None]
    assert Counter(r.id for r in winners) == {"run-0": 1, "run-1": 1, "run-2": 1}
    for winner in winners:
        assert (await store.get_run(winner.id)).lease_owner == winner.lease_owner


async def test_renew_by_owner_extends_by_other_fails(store: RunStore) -> None:
    run = await store.create_run(make_run())
    claimed = await store.claim_run(owner="owner-a", ttl=1)
    assert claimed is not None and claimed.lease_expires_at is not None
    await asyncio.sleep(0.05)
    assert await store.renew_lease(run.id, owner="owner-a", ttl=60) is True
    renewed = await store.get_run(run.id)
    assert renewed.lease_owner == "owner-a"
    assert renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > claimed.lease_expires_at + timedelta(seconds=30)

    assert await store.renew_lease(run.id, owner="owner-b", ttl=600) is False
    assert await store.get_run(run.id) == renewed


async def test_release_clears_the_lease(store: RunStore) -> None:
    run = await store.create_run(make_run())
    assert await store.claim_run(owner="owner-a", ttl=60) is not None
    await store.release_lease(run.id, owner="owner-b")
    assert (await store.get_run(run.id)).lease_owner == "owner-a"

    await store.release_lease(run.id, owner="owner-a")
    released = await store.get_run(run.id)
    assert released.lease_owner is None and released.lease_expires_at is None
    assert await store.renew_lease(run.id, owner="owner-a", ttl=60) is False

    again = await store.claim_run(owner="owner-b", ttl=60)
    assert again is not None and again.id == run.id and again.lease_owner == "owner-b"


async def test_expired_lease_of_running_run_is_taken_over(store: RunStore) -> None:
    run = await store.create_run(make_run())
    assert await store.claim_run(owner="owner-a", ttl=SHORT) is not None
    running = await store.transition(run.id, RunStatus.RUNNING)
    assert running.lease_owner == "owner-a"

    await asyncio.sleep(WAIT)
    taken = await store.claim_run(owner="owner-b", ttl=30)
    assert taken is not None and taken.id == run.id
    assert taken.lease_owner == "owner-b" and taken.status == RunStatus.RUNNING
    stored = await store.get_run(run.id)
    assert stored.lease_owner == "owner-b" and stored.status == RunStatus.RUNNING
    assert await store.renew_lease(run.id, owner="owner-a", ttl=30) is False
    assert await store.renew_lease(run.id, owner="owner-b", ttl=30) is True


async def test_expired_lease_of_queued_run_is_taken_over(store: RunStore) -> None:
    run = await store.create_run(make_run())
    assert await store.claim_run(owner="owner-a", ttl=SHORT) is not None
    await asyncio.sleep(WAIT)
    taken = await store.claim_run(owner="owner-b", ttl=30)
    assert taken is not None and taken.id == run.id and taken.lease_owner == "owner-b"


async def test_running_run_with_live_lease_is_not_claimable(store: RunStore) -> None:
    await store.create_run(
        make_run(
            status=RunStatus.RUNNING,
            started_at=BASE,
            lease_owner="owner-a",
            lease_expires_at=utcnow() + timedelta(minutes=5),
        )
    )
    assert await store.claim_run(owner="owner-b", ttl=30) is None


async def test_finished_and_interrupted_runs_are_never_claimed(store: RunStore) -> None:
    past = utcnow() - timedelta(hours=1)
    for status in (
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.CANCELLED,
        RunStatus.INTERRUPTED,
    ):
        await store.create_run(make_run(status=status, created_at=BASE, started_at=BASE))
        await store.create_run(
            make_run(
                status=status,
                created_at=BASE,
                started_at=BASE,
                lease_owner="dead-process",
                lease_expires_at=past,
            )
        )
    assert await store.claim_run(owner="owner-a", ttl=30) is None

    # Runs that finish while leased are not claimable afterwards either.
    run = await store.create_run(make_run())
    assert await store.claim_run(owner="owner-a", ttl=SHORT) is not None
    await store.transition(run.id, RunStatus.RUNNING)
    await store.transition(run.id, RunStatus.SUCCEEDED)
    await asyncio.sleep(WAIT)
    assert await store.claim_run(owner="owner-b", ttl=30) is None
