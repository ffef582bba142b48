"""The gateway's gauges, brought up to date when Prometheus scrapes ``/metrics``.

Queue depth comes from the store, so it is counted at scrape time (at most every
``REFRESH_SECONDS``, within ``STORE_TIMEOUT``) instead of on every transition: a scrape every
15 s costs one count on an index, and a slow store never holds a scrape.
"""

from __future__ import annotations

import asyncio
import logging
import time

from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.queue_load import figures_of
from agent_runtime.stores import RunStatus
from agent_runtime.telemetry.metrics import AuthMetrics, BudgetMetrics, GatewayMetrics, RunMetrics

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
STORE_TIMEOUT = 1.0

_last_refresh: dict[int, float] = {}


def declare() -> None:
    """The gateway's families in the default registry, so ``/metrics`` lists them from the first
    scrape on (before any run, sign-in or budget has counted anything)."""
    for family in (RunMetrics, AuthMetrics, BudgetMetrics, GatewayMetrics):
        family.for_registry()


async def refresh(gateway: Gateway) -> None:
    metrics = GatewayMetrics.for_registry()
    metrics.runs_in_progress.set(gateway.worker.in_flight)
    now = time.monotonic()
    if now - _last_refresh.get(id(gateway), 0.0) < REFRESH_SECONDS:
        return
    _last_refresh[id(gateway)] = now
    try:
        async with asyncio.timeout(STORE_TIMEOUT):
            queued = await gateway.store.count_runs(RunStatus.QUEUED)
            if gateway.settings.namespace_max_in_flight:
                for namespace in gateway.known_namespaces():
                    running = await gateway.admission.in_flight(namespace)
                    metrics.namespace_in_flight.labels(namespace).set(running)
            await _budgets(gateway)
            load = await figures_of(gateway.store).get()
    except Exception as exc:  # a scrape must answer even when the store does not
        log.debug("queue depth not refreshed: %s", exc)
        return
    metrics.queue_depth.set(queued)
    # Set afresh, so that a (namespace, capability) with no work left is 0 then gone, not stale.
    metrics.capability_runs.clear()
    for (namespace, capability), figures in load.loads.items():
        metrics.capability_runs.labels(namespace, capability, "queued").set(figures.queued)
        metrics.capability_runs.labels(namespace, capability, "running").set(figures.running)


async def _budgets(gateway: Gateway) -> None:
    """Spend of the namespaces with a budget, so every replica's gauges are current (a read a
    second at most per namespace, shared with the engine's checks)."""
    budgets = gateway.budgets
    if budgets is None or budgets.policy is None:
        return
    for namespace in gateway.known_namespaces():
        if budgets.budget_for(namespace) is not None:
            await budgets.spend(namespace)
