"""Namespace budgets at run time (``engine.budgets``) on a real store: limits, the read cache,
charging, metrics, and several replicas sharing the counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from agent_runtime.engine.budgets import BudgetExceeded, NamespaceBudgets
from agent_runtime.policy import BudgetPolicy, NamespaceBudget
from agent_runtime.stores import RunStore, StoreError, open_store
from agent_runtime.telemetry.metrics import BudgetMetrics
from agent_runtime.telemetry.prices import Price


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


POLICY = BudgetPolicy(
    prices={"openai/gpt-4o": Price(input=2.0, output=8.0)},
    namespaces={
        "team-a": NamespaceBudget(tokens_per_day=1000, cost_per_month=1.0),
        "free": NamespaceBudget(),
        "*": NamespaceBudget(tokens_per_month=5000),
    },
)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0))


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[RunStore]:
    async with open_store(sqlite_url) as opened:
        yield opened


def gauge(registry: CollectorRegistry, name: str, namespace: str, period: str) -> float | None:
    return registry.get_sample_value(name, {"namespace": namespace, "period": period})


async def test_under_the_limits_nothing_is_exceeded_then_the_day_limit_is(
    store: RunStore, clock: Clock
) -> None:
    budgets = NamespaceBudgets(store, POLICY, clock=clock)
    assert await budgets.exceeded("team-a") is None
    await budgets.charge("team-a", "openai", "gpt-4o", 600, 399)
    assert await budgets.exceeded("team-a") is None  # 999 of 1000
    await budgets.charge("team-a", "openai", "gpt-4o", 1, 0)
    found = await budgets.exceeded("team-a")
    day = clock.now.strftime("%Y-%m-%d")
    assert found == BudgetExceeded(
        namespace="team-a", limit="tokensPerDay", used=1000, allowed=1000, period=day
    )
    assert found.message() == (
        f"namespace team-a is over its budget: tokensPerDay 1000 of 1000 ({day})"
    )
    # the next day starts afresh; the month's cost goes on
    clock.advance(days=1)
    if clock.now.day == 1:
        return  # a new month too: nothing more to check today
    assert await budgets.exceeded("team-a") is None


async def test_cost_counts_from_the_price_table_and_months_come_first(
    store: RunStore, clock: Clock
) -> None:
    budgets = NamespaceBudgets(store, POLICY, clock=clock)
    # 2 per million in, 8 per million out: 125,000 out is 1.0
    await budgets.charge("team-a", "openai", "gpt-4o", 0, 125_000)
    spend = await budgets.spend("team-a")
    assert spend.month.cost == pytest.approx(1.0)
    found = await budgets.exceeded("team-a")
    assert found is not None and found.limit == "costPerMonth"
    assert found.period == clock.now.strftime("%Y-%m")
    status = await budgets.status("team-a")
    assert [e.limit for e in status.exceeded] == ["costPerMonth", "tokensPerDay"]


async def test_who_has_a_budget(store: RunStore, clock: Clock) -> None:
    budgets = NamespaceBudgets(store, POLICY, clock=clock)
    await budgets.charge("free", "openai", "gpt-4o", 10**6, 10**6)
    assert await budgets.exceeded("free") is None  # named with no limits: exempt
    await budgets.charge("other", "acme", "m", 5000, 0)
    found = await budgets.exceeded("other")  # the * default
    assert found is not None and found.limit == "tokensPerMonth"
    assert await NamespaceBudgets(store, None, clock=clock).exceeded("other") is None


async def test_other_replicas_spend_is_seen_within_the_refresh(
    sqlite_url: str, clock: Clock
) -> None:
    async with open_store(sqlite_url) as one, open_store(sqlite_url) as two:
        a = NamespaceBudgets(one, POLICY, clock=clock)
        b = NamespaceBudgets(two, POLICY, clock=clock)
        assert await a.exceeded("team-a") is None  # a has read the spend (0)
        await b.charge("team-a", "openai", "gpt-4o", 1000, 0)
        assert await b.exceeded("team-a") is not None  # b sees its own charge at once
        assert await a.exceeded("team-a") is None  # a answers from its read for a second
        clock.advance(seconds=1)
        assert await a.exceeded("team-a") is not None


async def test_exceeded_reads_the_store_once_a_second(store: RunStore, clock: Clock) -> None:
    reads = 0
    get_spend = store.get_spend

    async def counted(namespace: str, *, at: datetime) -> Any:
        nonlocal reads
        reads += 1
        return await get_spend(namespace, at=at)

    store.get_spend = counted  # type: ignore[method-assign]
    budgets = NamespaceBudgets(store, POLICY, clock=clock)
    for _ in range(50):
        await budgets.exceeded("team-a")
    assert reads == 1
    assert await budgets.exceeded("free") is None and reads == 1  # no limits: nothing to read
    clock.advance(seconds=1.5)
    await budgets.exceeded("team-a")
    assert reads == 2


async def test_a_charge_the_store_refused_is_added_with_the_next(
    store: RunStore, clock: Clock
) -> None:
    budgets = NamespaceBudgets(store, POLICY, clock=clock)
    add_spend = store.add_spend
    failing = True

    async def flaky(namespace: str, **kwargs: Any) -> None:
        if failing:
            raise StoreError("the store is restarting")
        await add_spend(namespace, **kwargs)

    store.add_spend = flaky  # type: ignore[method-assign]
    await budgets.charge("team-a", "openai", "gpt-4o", 300, 0)  # does not raise
    failing = False
    await budgets.charge("team-a", "openai", "gpt-4o", 200, 0)
    assert (await budgets.spend("team-a", fresh=True)).day.tokens == 500


async def test_metrics_show_spend_and_limits(store: RunStore, clock: Clock) -> None:
    registry = CollectorRegistry()
    metrics = BudgetMetrics.for_registry(registry)
    budgets = NamespaceBudgets(store, POLICY, metrics, clock=clock)
    await budgets.exceeded("team-a")  # a read sets the gauges
    name = "configurable_agents_namespace_"
    assert gauge(registry, f"{name}spend_tokens", "team-a", "day") == 0
    assert gauge(registry, f"{name}budget_tokens", "team-a", "day") == 1000
    assert gauge(registry, f"{name}budget_cost", "team-a", "month") == 1.0
    assert gauge(registry, f"{name}budget_tokens", "team-a", "month") is None  # no such limit
    await budgets.charge("team-a", "openai", "gpt-4o", 100, 50)  # a charge updates them
    assert gauge(registry, f"{name}spend_tokens", "team-a", "day") == 150
    assert gauge(registry, f"{name}spend_tokens", "team-a", "month") == 150
    cost = gauge(registry, f"{name}spend_cost", "team-a", "month")
    assert cost == pytest.approx((100 * 2 + 50 * 8) / 1e6)
