"""Run-store conformance: what the gateway's limits keep in the store, on every backend.

Rate limits are GCRA buckets shared by all replicas (``take_token``); the cap on a namespace's
runs in flight is part of claiming (``claim_run(max_per_namespace=...)``), on the backends that
can cap (``caps_namespaces``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AsyncExitStack

import pytest

from agent_runtime.stores import RunStore, StoreError, open_store
from tests.stores.helpers import make_run


async def test_a_bucket_gives_its_burst_then_waits_for_the_rate(store: RunStore) -> None:
    key = f"caller:{uuid.uuid4().hex}"
    waits = [await store.take_token(key, rate=2.0, burst=3) for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert 0.2 < waits[3] <= 0.55, waits  # one token comes back every 0.5 s
    await asyncio.sleep(waits[3] + 0.05)
    assert await store.take_token(key, rate=2.0, burst=3) == 0.0
    # another key has its own bucket
    assert await store.take_token(f"{key}-other", rate=2.0, burst=3) == 0.0


async def test_concurrent_takers_across_instances_share_one_bucket(store_url: str) -> None:
    key = f"namespace:{uuid.uuid4().hex}"
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(store_url)) for _ in range(3)]
        started = time.monotonic()
        waits = await asyncio.gather(
            *(stores[i % 3].take_token(key, rate=0.5, burst=10) for i in range(40))
        )
        elapsed = time.monotonic() - started
    # 10 at once, and at most one more for each 2 s the test took
    assert 10 <= waits.count(0.0) <= 10 + int(elapsed / 2) + 1, (waits, elapsed)


async def test_claims_pass_over_a_namespace_at_its_cap(store: RunStore) -> None:
    if not store.caps_namespaces:
        with pytest.raises(StoreError, match="cannot cap"):
            await store.claim_run(owner="o", ttl=30, max_per_namespace=2)
        return
    for i in range(4):
        await store.create_run(make_run(f"busy-{i}", namespace="busy"))
    await store.create_run(make_run("quiet-0", namespace="quiet"))
    claimed = [await store.claim_run(owner="o", ttl=30, max_per_namespace=2) for _ in range(4)]
    ids = [c.id for c in claimed if c is not None]
    assert ids == ["busy-0", "quiet-0", "busy-1"]  # fair: quiet holds fewer leases
    # a lease given back frees a slot
    await store.release_lease("busy-0", owner="o")
    again = await store.claim_run(owner="o", ttl=30, max_per_namespace=2)
    assert again is not None and again.namespace == "busy"


async def test_concurrent_claimers_across_instances_hold_the_cap(store_url: str) -> None:
    async with AsyncExitStack() as stack:
        # as many replicas as claims, all at once: each sees the namespace below its cap
        stores = [await stack.enter_async_context(open_store(store_url)) for _ in range(8)]
        if not stores[0].caps_namespaces:
            pytest.skip("this backend does not cap namespaces")
        namespace = f"ns-{uuid.uuid4().hex[:8]}"
        for _ in range(8):
            await stores[0].create_run(make_run(namespace=namespace))
        claimed = await asyncio.gather(
            *(s.claim_run(owner=f"o{i}", ttl=30, max_per_namespace=2) for i, s in enumerate(stores))
        )
    assert len([c for c in claimed if c is not None]) == 2
