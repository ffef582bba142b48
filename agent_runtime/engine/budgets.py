"""Namespace budgets at run time: is a namespace over its budget, and charging what a call spent.

The counters live in the run store (``add_spend``/``get_spend``), shared by every replica. Asking
before every node must be cheap, so each replica keeps the namespace's spend as it last read it
for ``refresh`` seconds (1 s) and adds its own charges to that copy at once: a replica sees its own
spend immediately and the others' within a second. Several runs of a namespace dispatching in the
same second may therefore all pass a limit that is just being reached, and the namespace ends a
little over it (by what those calls spend); the limit is never missed for longer than that.

A charge the store refused (an outage) is kept and added with the next one, never failing the
run that already paid for its call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from agent_runtime.policy.budgets import BudgetPolicy, NamespaceBudget
from agent_runtime.stores import Amount, RunStore, Spend
from agent_runtime.stores.counters import spend_day
from agent_runtime.stores.records import utcnow
from agent_runtime.telemetry.metrics import BudgetMetrics

log = logging.getLogger(__name__)

#: Seconds a replica answers ``exceeded`` from the spend it last read.
REFRESH_SECONDS = 1.0
Period = Literal["day", "month"]


class BudgetExceeded(BaseModel):
    """A namespace at or over one of its limits (nothing of it left for the period)."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    #: ``tokensPerDay``, ``tokensPerMonth``, ``costPerDay`` or ``costPerMonth``.
    limit: str
    used: float
    allowed: float
    #: The UTC day (``2026-12-04``) or month (``2026-12``) the limit counts.
    period: str

    def message(self) -> str:
        return (
            f"namespace {self.namespace} is over its budget: {self.limit} "
            f"{_number(self.used)} of {_number(self.allowed)} ({self.period})"
        )


def _number(value: float) -> str:
    return f"{round(value, 4):f}".rstrip("0").rstrip(".") or "0"


class BudgetStatus(BaseModel):
    """One namespace's budget, its spend this UTC day and month, and the limits it is over."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    namespace: str
    day: str
    month: str
    #: None: no budget applies to the namespace.
    budget: NamespaceBudget | None
    spend: Spend
    exceeded: list[BudgetExceeded] = Field(default_factory=list)


def over(
    namespace: str, budget: NamespaceBudget, spend: Spend, at: datetime
) -> list[BudgetExceeded]:
    """Every limit the spend has reached: months first (the longer wait), tokens before cost."""
    day = spend_day(at)
    checks: list[tuple[str, float | None, Amount, str, bool]] = [
        ("tokensPerMonth", budget.tokens_per_month, spend.month, day[:7], True),
        ("costPerMonth", budget.cost_per_month, spend.month, day[:7], False),
        ("tokensPerDay", budget.tokens_per_day, spend.day, day, True),
        ("costPerDay", budget.cost_per_day, spend.day, day, False),
    ]
    found = []
    for limit, allowed, amount, period, tokens in checks:
        used = float(amount.tokens) if tokens else amount.cost
        if allowed is not None and used >= allowed:
            found.append(
                BudgetExceeded(
                    namespace=namespace,
                    limit=limit,
                    used=used,
                    allowed=float(allowed),
                    period=period,
                )
            )
    return found


@dataclass
class _Read:
    spend: Spend
    day: str
    at: datetime


class NamespaceBudgets:
    """The platform's namespace budgets over a run store, for the engine and the gateway."""

    def __init__(
        self,
        store: RunStore,
        policy: BudgetPolicy | None,
        metrics: BudgetMetrics | None = None,
        clock: Callable[[], datetime] = utcnow,
        *,
        refresh: float = REFRESH_SECONDS,
    ) -> None:
        self.store = store
        self.policy = policy
        self.metrics = metrics
        self.clock = clock
        self.refresh = refresh
        self._reads: dict[str, _Read] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        #: Charges the store refused, by (namespace, day), added with the next charge.
        self._unsaved: dict[tuple[str, str], tuple[datetime, int, float]] = {}
        self._unpriced: set[tuple[str, str]] = set()

    @property
    def on_exceeded(self) -> Literal["fail", "pause"]:
        return self.policy.on_exceeded if self.policy is not None else "pause"

    def budget_for(self, namespace: str) -> NamespaceBudget | None:
        budget = self.policy.budget_for(namespace) if self.policy is not None else None
        return budget if budget is not None and budget.limited else None

    async def exceeded(self, namespace: str) -> BudgetExceeded | None:
        """The first limit the namespace has reached (see ``over``); None when no budget applies
        or it is under every limit. Reads the store at most once a ``refresh`` per namespace."""
        budget = self.budget_for(namespace)
        if budget is None:
            return None
        now = self.clock()
        found = over(namespace, budget, await self.spend(namespace), now)
        return found[0] if found else None

    async def status(self, namespace: str) -> BudgetStatus:
        """The namespace's budget and spend, read from the store now (for the API)."""
        now = self.clock()
        spend = await self.spend(namespace, fresh=True)
        budget = self.budget_for(namespace)
        day = spend_day(now)
        return BudgetStatus(
            namespace=namespace,
            day=day,
            month=day[:7],
            budget=budget,
            spend=spend,
            exceeded=over(namespace, budget, spend, now) if budget is not None else [],
        )

    async def spend(self, namespace: str, *, fresh: bool = False) -> Spend:
        """The namespace's spend this UTC day and month: as read within ``refresh`` seconds
        plus this replica's charges since (``fresh``: from the store now)."""
        read = self._recent(namespace, fresh)
        if read is not None:
            return read.spend
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:  # one read per namespace at a time; the others take its answer
            read = self._recent(namespace, fresh=False) if not fresh else None
            if read is not None:
                return read.spend
            now = self.clock()
            spend = await self.store.get_spend(namespace, at=now)
            self._reads[namespace] = _Read(spend, spend_day(now), now)
        self._observe(namespace, spend)
        return spend

    def _recent(self, namespace: str, fresh: bool) -> _Read | None:
        read = self._reads.get(namespace)
        if fresh or read is None:
            return None
        now = self.clock()
        if read.day != spend_day(now) or (now - read.at).total_seconds() >= self.refresh:
            return None
        return read

    async def charge(
        self, namespace: str, provider: str, model: str, input_tokens: int, output_tokens: int
    ) -> None:
        """Add a call's tokens and estimated cost to the namespace's day and month."""
        tokens = max(input_tokens, 0) + max(output_tokens, 0)
        if tokens == 0:
            return
        cost = 0.0
        if self.policy is not None:
            cost = self.policy.cost(provider, model, input_tokens, output_tokens)
            self._warn_unpriced(namespace, provider, model)
        now = self.clock()
        day = spend_day(now)
        pending = [(now, tokens, cost)]
        for key in [key for key in self._unsaved if key[0] == namespace]:
            pending.append(self._unsaved.pop(key))
        for at, n, c in pending:
            try:
                await self.store.add_spend(namespace, tokens=n, cost=c, at=at)
            except Exception as exc:  # the call is paid for: count it with the next one
                log.warning("namespace %s: spend not saved yet, kept for later: %s", namespace, exc)
                key = (namespace, spend_day(at))
                _, t0, c0 = self._unsaved.get(key, (at, 0, 0.0))
                self._unsaved[key] = (at, t0 + n, c0 + c)
        self._add_to_read(namespace, day, tokens, cost)

    def _add_to_read(self, namespace: str, day: str, tokens: int, cost: float) -> None:
        read = self._reads.get(namespace)
        if read is None or read.day != day:
            self._reads.pop(namespace, None)
            return
        spend = Spend(
            day=Amount(tokens=read.spend.day.tokens + tokens, cost=read.spend.day.cost + cost),
            month=Amount(
                tokens=read.spend.month.tokens + tokens, cost=read.spend.month.cost + cost
            ),
        )
        self._reads[namespace] = _Read(spend, day, read.at)
        self._observe(namespace, spend)

    def _warn_unpriced(self, namespace: str, provider: str, model: str) -> None:
        budget = self.budget_for(namespace)
        if budget is None or not budget.limits_cost or (provider, model) in self._unpriced:
            return
        assert self.policy is not None
        if self.policy.price_for(provider, model) is None:
            self._unpriced.add((provider, model))
            log.warning(
                "budgets.prices has no price for %s/%s: its calls count 0 against cost limits",
                provider,
                model,
            )

    def _observe(self, namespace: str, spend: Spend) -> None:
        if self.metrics is None:
            return
        m = self.metrics
        for period, amount in (("day", spend.day), ("month", spend.month)):
            m.spend_tokens.labels(namespace, period).set(amount.tokens)
            m.spend_cost.labels(namespace, period).set(amount.cost)
        budget = self.budget_for(namespace)
        if budget is None:
            return
        limits: list[tuple[Period, int | None, float | None]] = [
            ("day", budget.tokens_per_day, budget.cost_per_day),
            ("month", budget.tokens_per_month, budget.cost_per_month),
        ]
        for period, tokens, cost in limits:
            if tokens is not None:
                m.budget_tokens.labels(namespace, period).set(tokens)
            if cost is not None:
                m.budget_cost.labels(namespace, period).set(cost)
