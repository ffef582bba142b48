"""Counting and tracing each reconcile: by kind and outcome, with its duration.

Each reconcile is also a ``reconcile {kind}`` span when ``OTEL_*`` variables ask for traces.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.trace import Status, StatusCode

from agent_runtime.telemetry import tracer
from agent_runtime.telemetry.metrics import OperatorMetrics


@contextmanager
def reconciling(kind: str) -> Iterator[None]:
    metrics = OperatorMetrics.for_registry()
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
            metrics.reconciles.labels(kind, "error").inc()
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        else:
            metrics.reconciles.labels(kind, "success").inc()
        finally:
            metrics.reconcile_duration.labels(kind).observe(time.perf_counter() - start)
