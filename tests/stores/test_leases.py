"""Run-store conformance: leases (claim, renew, release, takeover), within and across instances."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from datetime import timedelta

from agent_runtime.stores import RunStatus, RunStore, open_store
from agent_runtime.stores.records import utcnow
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
