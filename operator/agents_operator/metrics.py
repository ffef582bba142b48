"""Prometheus metrics of the operator: reconciles by kind and outcome, durations, errors.

Each reconcile is also a ``reconcile {kind}`` span when ``OTEL_*`` variables ask for traces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram

from agent_runtime.telemetry import tracer

RECONCILES = Counter(
    "configurable_agents_operator_reconciles_total",
    "Reconciles by resource kind and outcome.",
    ["kind", "outcome"],
)
RECONCILE_SECONDS = Histogram(
    "configurable_agents_operator_reconcile_duration_seconds",
    "Time spent in one reconcile, by resource kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
API_REQUESTS = Counter(
    "configurable_agents_operator_api_requests_total",
    "Kubernetes API requests the operator made for its writes, by verb.",
    ["verb"],
)
MANAGED = Gauge(
    "configurable_agents_operator_managed_resources",
    "Resources the operator currently manages, by kind.",
    ["kind"],
)


@contextmanager
def reconciling(kind: str) -> Iterator[None]:
    start = time.perf_counter()
    with tracer().start_as_current_span(
        f"reconcile {kind}",
        attributes={"configurable_agents.kind": kind},
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield
        except Exception as exc:
            RECONCILES.labels(kind, "error").inc()
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        else:
            RECONCILES.labels(kind, "success").inc()
        finally:
            RECONCILE_SECONDS.labels(kind).observe(time.perf_counter() - start)
