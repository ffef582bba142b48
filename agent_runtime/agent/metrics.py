"""Prometheus metrics of one agent server, in a registry of its own (no import-time globals).

Labels stay bounded: node type, outcome, capability and reason, never run ids or node names.
"""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

#: From a fast tool call to a long LLM tool loop.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

PREFIX = "configurable_agents_agent"


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        if registry is None:
            registry = CollectorRegistry()
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                registry.register(collector)
        self.registry = registry
        self.in_flight = Gauge(
            f"{PREFIX}_tasks_in_flight", "Tasks executing now.", registry=registry
        )
        self.capacity = Gauge(
            f"{PREFIX}_max_concurrent_tasks",
            "Tasks this agent executes at once.",
            registry=registry,
        )
        self.tasks = Counter(
            f"{PREFIX}_tasks_total",
            "Tasks executed, by node type and outcome (succeeded, failed, permanent, error).",
            ["node_type", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_task_duration_seconds",
            "Time one task took to execute, by node type and outcome.",
            ["node_type", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.rejected = Counter(
            f"{PREFIX}_tasks_rejected_total",
            "Tasks refused before they ran, by reason (busy = 429, draining, capability).",
            ["reason"],
            registry=registry,
        )
        self.deduplicated = Counter(
            f"{PREFIX}_tasks_deduplicated_total",
            "Duplicate task requests answered without executing again (in_flight or cached).",
            ["source"],
            registry=registry,
        )
        self.tokens = Counter(
            f"{PREFIX}_llm_tokens_total",
            "LLM tokens used by tasks, by direction (input, output).",
            ["direction"],
            registry=registry,
        )
        self.draining = Gauge(
            f"{PREFIX}_draining", "1 while the agent drains after SIGTERM.", registry=registry
        )
