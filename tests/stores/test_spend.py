"""Run-store conformance: namespace spend counters (what the namespace budgets count against).

Each add lands in the UTC day and month of its moment; counters are per namespace and shared by
every replica, so adds from many tasks on several store objects at once lose nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from agent_runtime.stores import Amount, RunStore, Spend, open_store
from agent_runtime.stores.counters import SPEND_KEPT, spend_day
from agent_runtime.stores.s3 import S3Store
from agent_runtime.stores.s3.layout import PK, SK, TTL_ATTRIBUTE
from agent_runtime.stores.s3.spend import spend_pk


def _namespace() -> str:
    return f"ns-{uuid.uuid4().hex[:8]}"


def _today(hour: int = 12) -> datetime:
    """A moment of today (UTC), so that nothing counts as old enough to remove."""
    return datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0)


async def test_nothing_added_reads_zero(store: RunStore) -> None:
    assert await store.get_spend(_namespace(), at=_today()) == Spend()


async def test_adds_sum_in_the_day_and_the_month(store: RunStore) -> None:
    ns, at = _namespace(), _today()
    await store.add_spend(ns, tokens=100, cost=0.25, at=at)
    await store.add_spend(ns, tokens=50, cost=0.125, at=at + timedelta(minutes=5))
    spend = await store.get_spend(ns, at=at)
    assert spend.day == Amount(tokens=150, cost=0.375)
    assert spend.month == Amount(tokens=150, cost=0.375)


async def test_a_new_day_starts_at_zero_and_the_month_goes_on(store: RunStore) -> None:
    ns = _namespace()
    first = datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC)
    await store.add_spend(ns, tokens=10, cost=1.0, at=first)
    # 00:30 in UTC+02:00 is still the 3rd in UTC
    await store.add_spend(
        ns, tokens=5, cost=0.5, at=datetime(2026, 12, 4, 0, 30, tzinfo=timezone(timedelta(hours=2)))
    )
    await store.add_spend(ns, tokens=1, cost=0.25, at=datetime(2026, 12, 4, 0, 0, tzinfo=UTC))
    third = await store.get_spend(ns, at=first)
    assert third.day == Amount(tokens=15, cost=1.5)
    fourth = await store.get_spend(ns, at=datetime(2026, 12, 4, 18, tzinfo=UTC))
    assert fourth.day == Amount(tokens=1, cost=0.25)
    assert fourth.month == Amount(tokens=16, cost=1.75)


async def test_the_month_rolls_over(store: RunStore) -> None:
    ns = _namespace()
    await store.add_spend(ns, tokens=7, cost=0.7, at=datetime(2026, 11, 1, tzinfo=UTC))
    await store.add_spend(ns, tokens=30, cost=3.0, at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    await store.add_spend(ns, tokens=2, cost=0.2, at=datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC))
    november = await store.get_spend(ns, at=datetime(2026, 11, 15, tzinfo=UTC))
    assert november.day == Amount()
    assert november.month.tokens == 37 and november.month.cost == pytest.approx(3.7)
    december = await store.get_spend(ns, at=datetime(2026, 12, 1, 9, tzinfo=UTC))
    assert december.day == Amount(tokens=2, cost=0.2)
    assert december.month == Amount(tokens=2, cost=0.2)


async def test_namespaces_count_apart(store: RunStore) -> None:
    a, b, at = _namespace(), _namespace(), _today()
    await store.add_spend(a, tokens=3, cost=0.03, at=at)
    await store.add_spend(b, tokens=4000, cost=40.0, at=at)
    assert (await store.get_spend(a, at=at)).month == Amount(tokens=3, cost=0.03)
    assert (await store.get_spend(b, at=at)).day == Amount(tokens=4000, cost=40.0)


async def test_naive_times_are_utc(store: RunStore) -> None:
    ns = _namespace()
    await store.add_spend(ns, tokens=9, cost=0.0, at=datetime(2026, 12, 4, 23, 0))
    spend = await store.get_spend(ns, at=datetime(2026, 12, 4, 1, 0, tzinfo=UTC))
    assert spend.day == Amount(tokens=9)


async def test_tiny_costs_add_up(store: RunStore) -> None:
    """A call of a few tokens at cents per million costs 1e-7 and less: none of it is lost."""
    ns, at = _namespace(), _today()
    for _ in range(10):
        await store.add_spend(ns, tokens=1, cost=1.5e-7, at=at)
    assert (await store.get_spend(ns, at=at)).day.cost == pytest.approx(1.5e-6, rel=1e-9)


async def test_concurrent_adds_on_several_store_objects_lose_nothing(store_url: str) -> None:
    ns, at = _namespace(), _today()
    async with AsyncExitStack() as stack:
        stores = [await stack.enter_async_context(open_store(store_url)) for _ in range(3)]
        sent = [_dynamodb_calls(s) for s in stores if isinstance(s, S3Store)]
        await asyncio.gather(
            *(stores[i % 3].add_spend(ns, tokens=i, cost=0.5, at=at) for i in range(1, 61))
        )
        adds = [call for calls in sent for call in calls]
        for opened in stores:
            spend = await opened.get_spend(ns, at=at)
            if sent:
                # moto's UpdateItem is not atomic (it reads, then writes the item, with no lock),
                # so concurrent ADDs can lose one another there, never on DynamoDB, where ADD is
                # atomic: check each add is one unconditional ADD, with nothing read first
                assert spend.day.tokens <= sum(range(1, 61))
                continue
            assert spend.day.tokens == spend.month.tokens == sum(range(1, 61))
            assert spend.day.cost == pytest.approx(30.0)
    if sent:
        assert [name for name, _ in adds] == ["UpdateItem"] * 60
        assert all(p["UpdateExpression"].startswith("ADD ") for _, p in adds)
        assert not any("ConditionExpression" in p for _, p in adds)


def _dynamodb_calls(store: S3Store) -> list[tuple[str, dict[str, Any]]]:
    """The DynamoDB requests a store sends from now on: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def seen(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    store.aws.dynamodb.meta.events.register("provide-client-params.dynamodb.*", seen)
    return calls


async def test_old_days_are_removed_but_not_the_last_two_months(store: RunStore) -> None:
    if isinstance(store, S3Store):
        pytest.skip("DynamoDB removes old counters by its TTL (test_dynamodb_counters_expire)")
    ns, now = _namespace(), _today()
    old = now - timedelta(days=90)
    recent = now - timedelta(days=62)
    await store.add_spend(ns, tokens=5, cost=0.0, at=old)
    await store.add_spend(ns, tokens=6, cost=0.0, at=recent)
    await store.add_spend(ns, tokens=1, cost=0.0, at=now)  # a new day for this store: prunes
    assert (await store.get_spend(ns, at=old)).month == Amount()
    assert (await store.get_spend(ns, at=recent)).day == Amount(tokens=6)
    assert spend_day(now) != spend_day(recent)


async def test_dynamodb_counters_expire(store: RunStore) -> None:
    if not isinstance(store, S3Store):
        pytest.skip("SQL stores remove old rows themselves")
    ns, at = _namespace(), datetime(2026, 12, 4, 15, tzinfo=UTC)
    await store.add_spend(ns, tokens=1, cost=0.0, at=at)
    item = store.aws.dynamodb.get_item(
        TableName=store.config.table,
        Key={PK: {"S": spend_pk(ns)}, SK: {"S": "day#2026-12-04"}},
        ConsistentRead=True,
    )["Item"]
    expires = datetime.fromtimestamp(int(item[TTL_ATTRIBUTE]["N"]), UTC)
    assert at + SPEND_KEPT < expires <= at + SPEND_KEPT + timedelta(days=1)
