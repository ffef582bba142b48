"""Counting and tracing each reconcile (by kind and outcome, with its duration) and the objects
managed, and telling kopf whether a failed reconcile is worth retrying.

Each reconcile is also a ``reconcile {kind}`` span when ``OTEL_*`` variables ask for traces. The
package's own errors carry ``retryable``: kopf retries those after ``RETRY_DELAY`` seconds
(``TemporaryError``) and leaves the others until the object changes (``PermanentError``).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import kopf
from opentelemetry.trace import Status, StatusCode

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.telemetry import tracer
from agent_runtime.telemetry.metrics import OperatorMetrics

#: Seconds before kopf tries a reconcile again that failed for a passing reason.
RETRY_DELAY = 10.0


def for_kopf(exc: AgentRuntimeError) -> kopf.TemporaryError | kopf.PermanentError:
    """The kopf error for one of ours: its code leads the message kopf logs and posts."""
    message = f"{exc.code}: {exc}"
    if exc.retryable:
        return kopf.TemporaryError(message, delay=RETRY_DELAY)
    return kopf.PermanentError(message)


def count_managed(kind: str, index: Mapping[Any, Collection[Any]]) -> None:
    """The managed-resources gauge of ``kind``: the objects its kopf index holds now (kopf
    updates an index before the handlers of the same event run, deletions included)."""
    total = sum(len(objects) for objects in index.values())
    OperatorMetrics.for_registry().managed.labels(kind).set(total)


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
            if isinstance(exc, AgentRuntimeError):
                raise for_kopf(exc) from exc
            raise
        else:
            metrics.reconciles.labels(kind, "success").inc()
        finally:
            metrics.reconcile_duration.labels(kind).observe(time.perf_counter() - start)
