"""The Prometheus metrics of the runtime: every name in one place, registered per registry.

Names follow Prometheus conventions (``configurable_agents_`` prefix, ``_total`` counters,
``_seconds`` durations, base units) and labels stay bounded: workflow, node, model, tool, status
and outcome come from Workflow specs, never from runs (no run ids). Nothing is registered at
import: ``for_registry`` creates a family's collectors on first use and gives the one instance per
registry after, so two executors in one process share it. The gateway and the operator use the
default registry (their ``/metrics``); each agent app has one of its own (``own_registry``), and a
test wanting fresh counters passes a new ``CollectorRegistry``.
"""

from __future__ import annotations

import weakref
from typing import ClassVar, Self

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

PREFIX = "configurable_agents"

#: From a fast tool call to a long LLM tool loop.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: Whole runs: up to the default run timeout (10 min) and beyond.
RUN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
#: One reconcile: an apply or two, at most a slow API server.
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def own_registry() -> CollectorRegistry:
    """A registry of one server's own, with the process, platform and GC collectors."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


class _PerRegistry:
    _instances: ClassVar[weakref.WeakKeyDictionary[CollectorRegistry, object]]

    def __init_subclass__(cls) -> None:
        cls._instances = weakref.WeakKeyDictionary()

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> Self:
        registry = REGISTRY if registry is None else registry
        found = cls._instances.get(registry)
        if found is None:
            found = cls._instances[registry] = cls(registry)  # type: ignore[call-arg]
        return found  # type: ignore[return-value]


class RunMetrics(_PerRegistry):
    """The engine's: runs, node attempts, retries, tokens and cost, lease takeovers."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs_started = Counter(
            f"{PREFIX}_runs_started_total",
            "Runs whose execution began (not counting resumes), by workflow.",
            ["workflow"],
            registry=registry,
        )
        self.runs_resumed = Counter(
            f"{PREFIX}_runs_resumed_total",
            "Executions that went on with a started run (human answer, takeover, --resume).",
            ["workflow"],
            registry=registry,
        )
        self.runs_finished = Counter(
            f"{PREFIX}_runs_finished_total",
            "Runs that finished, by workflow and status (succeeded, failed, cancelled); an "
            "execution that stops interrupted or queued for agents is not counted here.",
            ["workflow", "status"],
            registry=registry,
        )
        self.run_duration = Histogram(
            f"{PREFIX}_run_duration_seconds",
            "Time one execution of a run took until it settled, by workflow and status.",
            ["workflow", "status"],
            buckets=RUN_BUCKETS,
            registry=registry,
        )
        self.node_duration = Histogram(
            f"{PREFIX}_node_duration_seconds",
            "Time one node attempt took (dispatch and execution), by workflow, node and outcome.",
            ["workflow", "node", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.node_retries = Counter(
            f"{PREFIX}_node_retries_total",
            "Node attempts that failed and are tried again, by workflow and node.",
            ["workflow", "node"],
            registry=registry,
        )
        self.tokens = Counter(
            f"{PREFIX}_tokens_total",
            "LLM tokens of node attempts, by workflow, model and direction (input, output).",
            ["workflow", "model", "direction"],
            registry=registry,
        )
        self.cost = Counter(
            f"{PREFIX}_cost_usd_total",
            "What node attempts cost in USD by the price table, by workflow and model.",
            ["workflow", "model"],
            registry=registry,
        )
        self.lease_takeovers = Counter(
            f"{PREFIX}_lease_takeovers_total",
            "Runs taken over from a replica whose lease expired or whose process died.",
            registry=registry,
        )


class GatewayMetrics(_PerRegistry):
    """The gateway's own: the queue and the runs this replica executes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth",
            "Runs queued in the store (counted up to a bound at each scrape).",
            registry=registry,
        )
        self.runs_in_progress = Gauge(
            f"{PREFIX}_runs_in_progress",
            "Runs this replica is executing now.",
            registry=registry,
        )
        self.runs_refused = Counter(
            f"{PREFIX}_runs_refused_total",
            "Run creations refused by a limit, by namespace and limit "
            "(caller_rate, namespace_rate, namespace_in_flight).",
            ["namespace", "limit"],
            registry=registry,
        )
        self.namespace_in_flight = Gauge(
            f"{PREFIX}_namespace_runs_in_flight",
            "Runs executing now in each namespace (with a per-namespace cap), at each scrape.",
            ["namespace"],
            registry=registry,
        )
        self.capability_runs = Gauge(
            f"{PREFIX}_capability_runs",
            "Runs per namespace and capability at each scrape: state=queued waiting for an agent "
            "of it, state=running executing a Workflow that uses it (what AgentPools with "
            "autoscaling.metric: queue scale on).",
            ["namespace", "capability", "state"],
            registry=registry,
        )


class WebhookMetrics(_PerRegistry):
    """Deliveries to Triggers' webhooks, by how each was answered."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            f"{PREFIX}_webhook_deliveries_total",
            "Webhook and CloudEvent deliveries, by namespace, trigger and outcome (accepted, "
            "replayed, ignored, signature_invalid, keys_unavailable, trigger_suspended, "
            "invalid_payload, mapping_failed, payload_too_large, refused); a delivery to no "
            "webhook trigger is counted with empty namespace and trigger (unknown), so a "
            "sender's made-up names add no series.",
            ["namespace", "trigger", "outcome"],
            registry=registry,
        )


class TriggerMetrics(_PerRegistry):
    """Runs Triggers started (counted once however many replicas fire a tick) and, per trigger,
    its active runs and newest tick, as its status says them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            f"{PREFIX}_trigger_runs_total",
            "Runs started by Triggers, by namespace, trigger and source (schedule, webhook, "
            "cloudevent).",
            ["namespace", "trigger", "source"],
            registry=registry,
        )
        self.active = Gauge(
            f"{PREFIX}_trigger_active_runs",
            "A Trigger's runs queued, running or interrupted (its status' active), by namespace "
            "and trigger.",
            ["namespace", "trigger"],
            registry=registry,
        )
        self.last_schedule = Gauge(
            f"{PREFIX}_trigger_last_schedule_timestamp_seconds",
            "The newest tick a Trigger's schedule fired (its status' lastScheduleTime), as Unix "
            "time, by namespace and trigger.",
            ["namespace", "trigger"],
            registry=registry,
        )


class AuthMetrics(_PerRegistry):
    """What authenticating callers costs the API server: reviews asked (cache misses)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.reviews = Counter(
            f"{PREFIX}_auth_reviews_total",
            "TokenReviews and SubjectAccessReviews asked of the API server, and OIDC key "
            "fetches, by kind (decisions answered from the cache are not counted).",
            ["kind"],
            registry=registry,
        )


class ExecutorMetrics(_PerRegistry):
    """Where LLM and tool calls happen (agent pods, or the gateway with in-process agents)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.llm_calls = Counter(
            f"{PREFIX}_llm_calls_total",
            "LLM calls, by provider, model and outcome (succeeded, failed).",
            ["provider", "model", "outcome"],
            registry=registry,
        )
        self.llm_duration = Histogram(
            f"{PREFIX}_llm_call_duration_seconds",
            "Time one LLM call took, by provider and model.",
            ["provider", "model"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.llm_tokens = Counter(
            f"{PREFIX}_llm_tokens_total",
            "Tokens of LLM calls, by provider, model and direction (input, output).",
            ["provider", "model", "direction"],
            registry=registry,
        )
        self.tool_calls = Counter(
            f"{PREFIX}_tool_calls_total",
            "Tool calls, by tool and outcome (succeeded, failed).",
            ["tool", "outcome"],
            registry=registry,
        )
        self.tool_duration = Histogram(
            f"{PREFIX}_tool_call_duration_seconds",
            "Time one tool call took, by tool.",
            ["tool"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )


class BudgetMetrics(_PerRegistry):
    """Namespace spend against the platform's budgets (gateway). Spend is the namespace's total
    across every replica as this replica last read it plus what it charged since; take the
    ``max`` over replicas."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.spend_tokens = Gauge(
            f"{PREFIX}_namespace_spend_tokens",
            "LLM tokens a namespace spent this UTC day or month, by namespace and period.",
            ["namespace", "period"],
            registry=registry,
        )
        self.spend_cost = Gauge(
            f"{PREFIX}_namespace_spend_cost",
            "Estimated cost (budget price table) a namespace spent this UTC day or month.",
            ["namespace", "period"],
            registry=registry,
        )
        self.budget_tokens = Gauge(
            f"{PREFIX}_namespace_budget_tokens",
            "A namespace's token budget per day or month (absent: no limit).",
            ["namespace", "period"],
            registry=registry,
        )
        self.budget_cost = Gauge(
            f"{PREFIX}_namespace_budget_cost",
            "A namespace's cost budget per day or month (absent: no limit).",
            ["namespace", "period"],
            registry=registry,
        )


class AgentMetrics(_PerRegistry):
    """One agent server's tasks (labels: node type, outcome, capability, reason; no node names)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        prefix = f"{PREFIX}_agent"
        self.registry = registry
        self.in_flight = Gauge(
            f"{prefix}_tasks_in_flight", "Tasks executing now.", registry=registry
        )
        self.capacity = Gauge(
            f"{prefix}_max_concurrent_tasks",
            "Tasks this agent executes at once.",
            registry=registry,
        )
        self.tasks = Counter(
            f"{prefix}_tasks_total",
            "Tasks executed, by node type and outcome (succeeded, failed, permanent, error).",
            ["node_type", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{prefix}_task_duration_seconds",
            "Time one task took to execute, by node type and outcome.",
            ["node_type", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.rejected = Counter(
            f"{prefix}_tasks_rejected_total",
            "Tasks refused before they ran, by reason (busy = 429, draining, capability).",
            ["reason"],
            registry=registry,
        )
        self.deduplicated = Counter(
            f"{prefix}_tasks_deduplicated_total",
            "Duplicate task requests answered without executing again (in_flight or cached).",
            ["source"],
            registry=registry,
        )
        self.tokens = Counter(
            f"{prefix}_llm_tokens_total",
            "LLM tokens used by tasks, by direction (input, output).",
            ["direction"],
            registry=registry,
        )
        self.draining = Gauge(
            f"{prefix}_draining", "1 while the agent drains after SIGTERM.", registry=registry
        )


class OperatorMetrics(_PerRegistry):
    """The operator's: reconciles by kind and outcome, their durations, its API writes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        prefix = f"{PREFIX}_operator"
        self.reconciles = Counter(
            f"{prefix}_reconciles_total",
            "Reconciles by resource kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.reconcile_duration = Histogram(
            f"{prefix}_reconcile_duration_seconds",
            "Time spent in one reconcile, by resource kind.",
            ["kind"],
            buckets=RECONCILE_BUCKETS,
            registry=registry,
        )
        self.api_requests = Counter(
            f"{prefix}_api_requests_total",
            "Kubernetes API requests the operator made for its writes, by verb.",
            ["verb"],
            registry=registry,
        )
        self.managed = Gauge(
            f"{prefix}_managed_resources",
            "AgentPools, Workflows and Triggers the operator manages now, by kind.",
            ["kind"],
            registry=registry,
        )
