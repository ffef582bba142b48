"""Limits on starting runs: per caller and per namespace (token buckets kept in the run store,
so that every replica counts the same tokens), and a cap on a namespace's runs in flight.

A refusal is a 429 with ``Retry-After`` naming the limit; it is counted by namespace.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from agent_runtime.auth import Identity
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.stores import RunStatus, RunStore
from agent_runtime.telemetry.metrics import GatewayMetrics


@dataclass(frozen=True)
class Refusal:
    limit: str
    retry_after: int
    message: str


class Admission:
    def __init__(self, settings: GatewaySettings, store: RunStore) -> None:
        self.settings = settings
        self.store = store

    async def admit(self, caller: Identity, namespace: str, *, queue: bool) -> Refusal | None:
        """None when the run may be created; else why not. Tokens are taken only on success
        of the limits before (a caller over its own rate does not drain its namespace's)."""
        s = self.settings
        if s.caller_run_rate:
            key = "caller:" + hashlib.sha256(caller.username.encode()).hexdigest()[:32]
            wait = await self.store.take_token(
                key, rate=s.caller_run_rate, burst=s.caller_run_burst
            )
            if wait:
                return self._refused(
                    namespace, "caller_rate", wait, f"you may start {s.caller_run_rate:g} runs/s"
                )
        if s.namespace_run_rate:
            wait = await self.store.take_token(
                f"namespace:{namespace}", rate=s.namespace_run_rate, burst=s.namespace_run_burst
            )
            if wait:
                return self._refused(
                    namespace,
                    "namespace_rate",
                    wait,
                    f"namespace {namespace} may start {s.namespace_run_rate:g} runs/s",
                )
        if s.namespace_max_in_flight and not queue:
            running = await self.in_flight(namespace)
            if running >= s.namespace_max_in_flight:
                return self._refused(
                    namespace,
                    "namespace_in_flight",
                    1.0,
                    f"namespace {namespace} has {running} runs in flight, its cap; "
                    "send queue: true to wait in the queue instead",
                )
        return None

    async def in_flight(self, namespace: str) -> int:
        cap = self.settings.namespace_max_in_flight
        page = await self.store.list_runs(
            status=RunStatus.RUNNING, namespaces=[namespace], limit=max(cap, 1) * 2
        )
        return len(page.items)

    def _refused(self, namespace: str, limit: str, wait: float, message: str) -> Refusal:
        GatewayMetrics.for_registry().runs_refused.labels(namespace, limit).inc()
        return Refusal(limit, max(1, math.ceil(wait)), message)
