"""Spans, metrics and log context of runs and node attempts.

Each execution of a run is a ``run {workflow}`` span; each node attempt a ``node {name}`` span
under it, whose context the ``HttpDispatcher`` sends to the agent (W3C ``traceparent``). An
execution that goes on with a started run (a human answer, a takeover after a crash, ``--resume``)
links to the trace the run began in: that trace's ``traceparent`` is kept in the data of the
run's ``run.started`` event. A run started by a traced caller (its request's ``traceparent``, kept
on the run record) begins in the caller's trace, as a child of the caller's span.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode

from agent_runtime.executors import NoAgents, TaskResult
from agent_runtime.spec.workflow import LlmNode, ModelSpec, ToolNode, WorkflowSpec
from agent_runtime.stores import RunRecord, RunStatus, RunStore
from agent_runtime.telemetry import genai
from agent_runtime.telemetry.context import bind
from agent_runtime.telemetry.metrics import RunMetrics
from agent_runtime.telemetry.prices import price_table
from agent_runtime.telemetry.tracing import tracer

log = logging.getLogger(__name__)

#: Totals of the run span: tokens and cost of its node attempts.
USAGE_INPUT = "configurable_agents.usage.input_tokens"
USAGE_OUTPUT = "configurable_agents.usage.output_tokens"
#: Event data key holding the trace context an execution began in.
TRACE_KEY = "traceparent"

_CURRENT: ContextVar[RunWatch | None] = ContextVar("configurable_agents_run_watch", default=None)


async def earlier_traces(store: RunStore, run_id: str) -> list[Link]:
    """Links to the trace the run began in (its first ``run.started`` event's context)."""
    for event in await store.list_events(run_id):
        if event.type == "run.started" and event.data.get(TRACE_KEY):
            span = trace.get_current_span(extract({TRACE_KEY: event.data[TRACE_KEY]}))
            context = span.get_span_context()
            if context.is_valid:
                return [Link(context, {"configurable_agents.link": "run.started"})]
    return []


class RunWatch:
    """One execution of a run, from its start to where it settles; see the module docstring."""

    def __init__(
        self, run: RunRecord, *, resumed: bool, links: list[Link], parent: str | None = None
    ) -> None:
        """``parent``: the ``traceparent`` of whoever started the run, whose trace it joins."""
        self.workflow = f"{run.namespace}/{run.workflow}"
        self.metrics = RunMetrics.for_registry()
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost: float | None = None
        self.started = time.perf_counter()
        self.span: Span = tracer().start_span(
            f"run {self.workflow}",
            context=extract({TRACE_KEY: parent}) if parent else None,
            kind=SpanKind.INTERNAL,
            links=links,
            attributes={
                genai.RUN_ID: run.id,
                genai.WORKFLOW: self.workflow,
                "configurable_agents.run.resumed": resumed,
                **({genai.USER_ID: run.created_by.username} if run.created_by else {}),
                **({genai.RESUMED_BY: run.resumed_by.username} if run.resumed_by else {}),
            },
        )
        self._tokens: list[Token[Any]] = []
        self._binding = bind(run_id=run.id, workflow=self.workflow)
        self._binding.__enter__()
        self._tokens.append(otel_context.attach(trace.set_span_in_context(self.span)))
        self._self_token = _CURRENT.set(self)
        (self.metrics.runs_resumed if resumed else self.metrics.runs_started).labels(
            self.workflow
        ).inc()
        # a run's life in the log, each line with its run and trace ids (bound above)
        log.info("run %s %s", run.id, "resumed" if resumed else "started")

    def event_data(self) -> dict[str, str]:
        """The trace context to keep in the run's start event (for links from later ones)."""
        carrier: dict[str, str] = {}
        inject(carrier)
        return {TRACE_KEY: carrier[TRACE_KEY]} if TRACE_KEY in carrier else {}

    def add(self, model: ModelSpec | None, result: TaskResult) -> None:
        usage = result.usage
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        if model is None:
            return
        label = model.model or model.provider
        self.metrics.tokens.labels(self.workflow, label, "input").inc(usage.input_tokens)
        self.metrics.tokens.labels(self.workflow, label, "output").inc(usage.output_tokens)
        prices = price_table()
        cost = None
        if prices is not None:
            cost = prices.cost(model.provider, label, usage.input_tokens, usage.output_tokens)
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost
            self.metrics.cost.labels(self.workflow, label).inc(cost)

    def finish(self, run: RunRecord) -> None:
        """End the span and count the execution by the status it settled at."""
        status = run.status.value if run.status != RunStatus.RUNNING else "aborted"
        if run.status.finished:  # not an execution that waits (human, agents)
            self.metrics.runs_finished.labels(self.workflow, status).inc()
        self.metrics.run_duration.labels(self.workflow, status).observe(
            time.perf_counter() - self.started
        )
        span = self.span
        span.set_attribute(genai.RUN_STATUS, status)
        span.set_attribute(USAGE_INPUT, self.input_tokens)
        span.set_attribute(USAGE_OUTPUT, self.output_tokens)
        if self.cost is not None:
            span.set_attribute(genai.COST, self.cost)
        if run.status == RunStatus.FAILED:
            message = str((run.error or {}).get("message", "failed"))
            span.set_status(Status(StatusCode.ERROR, genai.content(message)[:1000]))
            log.warning("run %s failed: %s", run.id, genai.content(message)[:1000])
        else:
            waits = f" at node '{(run.interrupt or {}).get('node')}'" if run.interrupt else ""
            log.info("run %s %s%s", run.id, status, waits)
        _CURRENT.reset(self._self_token)
        for token in reversed(self._tokens):
            otel_context.detach(token)
        self._binding.__exit__(None, None, None)
        span.end()


class Attempt:
    def __init__(self, span: Span, model: ModelSpec | None) -> None:
        self.span = span
        self.model = model
        self.outcome = "failed"

    def succeeded(self, result: TaskResult) -> None:
        self.outcome = "succeeded"
        self.span.set_attribute(USAGE_INPUT, result.usage.input_tokens)
        self.span.set_attribute(USAGE_OUTPUT, result.usage.output_tokens)
        watch = _CURRENT.get()
        if watch is not None:
            watch.add(self.model, result)


@contextmanager
def node_attempt(
    spec: WorkflowSpec, node: LlmNode | ToolNode, *, run_id: str, visit: int, attempt: int
) -> Iterator[Attempt]:
    """The span and metrics of one node attempt; the dispatch inside sends its context on."""
    watch = _CURRENT.get()
    workflow = watch.workflow if watch is not None else ""
    metrics = RunMetrics.for_registry()
    model = spec.models.get(node.model) if isinstance(node, LlmNode) else None
    attributes: dict[str, Any] = {
        genai.RUN_ID: run_id,
        genai.WORKFLOW: workflow,
        genai.NODE: node.name,
        genai.NODE_TYPE: node.type,
        genai.VISIT: visit,
        genai.ATTEMPT: attempt,
    }
    if model is not None:
        attributes["configurable_agents.model"] = model.model or model.provider
    if isinstance(node, ToolNode):
        attributes[genai.TOOL_NAME] = node.tool
    if attempt > 1:
        metrics.node_retries.labels(workflow, node.name).inc()
    start = time.perf_counter()
    with (
        tracer().start_as_current_span(
            f"node {node.name}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span,
        bind(node=node.name),
    ):
        watched = Attempt(span, model)
        try:
            yield watched
        except NoAgents as exc:
            watched.outcome = "no_agent"
            span.set_attribute(genai.ERROR_TYPE, type(exc).__name__)
            raise
        except TimeoutError as exc:
            watched.outcome = "timeout"
            genai.record_error(span, exc, f"timed out after {node.timeout:g}s")
            raise
        except BaseException as exc:
            genai.record_error(span, exc)
            raise
        finally:
            metrics.node_duration.labels(workflow, node.name, watched.outcome).observe(
                time.perf_counter() - start
            )


def lease_takeover() -> None:
    """A run whose lease expired (or whose owner died) is executed here now."""
    RunMetrics.for_registry().lease_takeovers.inc()
