"""Admission, idempotency and draining around the executor: the agent's task discipline.

A task is executed in an ``asyncio.Task`` owned by the runner, not by the request, so a client
that goes away (or a duplicate request that comes) never changes what runs: duplicates of a key in
flight wait for the same outcome, and a key finished recently is answered from a bounded cache.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from agent_runtime.agent.errors import Busy, CapabilityNotServed, Draining
from agent_runtime.agent.settings import AgentSettings
from agent_runtime.executors import (
    NodeTask,
    OnDelta,
    PermanentTaskError,
    TaskError,
    TaskExecutor,
    TaskResult,
)
from agent_runtime.telemetry.metrics import AgentMetrics
from agent_runtime.telemetry.secrets import redact

log = logging.getLogger(__name__)


class ResultCache:
    """The results of recently finished keys: at most ``size`` of them, each for ``ttl`` seconds."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, TaskResult]] = OrderedDict()

    def get(self, key: str) -> TaskResult | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, result = entry
        if expires <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return result

    def put(self, key: str, result: TaskResult) -> None:
        if self.size <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl, result)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class TaskRunner:
    """Runs node tasks within the agent's limits; see the module docstring."""

    def __init__(
        self, settings: AgentSettings, executor: TaskExecutor, metrics: AgentMetrics
    ) -> None:
        self.settings = settings
        self.executor = executor
        self.metrics = metrics
        self.limit = settings.max_concurrent_tasks
        self.cache = ResultCache(settings.idempotency_cache_size, settings.idempotency_ttl)
        self._running: dict[str, asyncio.Task[TaskResult]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        metrics.capacity.set(self.limit)

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def run(self, task: NodeTask, *, trace_id: str | None = None) -> TaskResult:
        """The task's result; raises AgentError refusals, TaskError or PermanentTaskError."""
        return await self.start(task, trace_id=trace_id)

    def start(
        self, task: NodeTask, *, trace_id: str | None = None, on_delta: OnDelta | None = None
    ) -> asyncio.Future[TaskResult]:
        """Admit the task (raising AgentError refusals now) and give its outcome to come.

        ``on_delta`` hears the model's text as it is written, when this request started the
        task: a duplicate of a key in flight or done gets the outcome only."""
        if not self.settings.serves(task.capability):
            self.metrics.rejected.labels("capability").inc()
            served = ", ".join(self.settings.capabilities)
            raise CapabilityNotServed(
                f"this agent serves {served}, not capability {task.capability!r}",
                details={"capability": task.capability, "served": self.settings.capabilities},
            )
        key = task.idempotency_key
        cached = self.cache.get(key)
        if cached is not None:
            self.metrics.deduplicated.labels("cached").inc()
            done: asyncio.Future[TaskResult] = asyncio.get_running_loop().create_future()
            done.set_result(cached)
            return done
        running = self._running.get(key)
        if running is not None:
            self.metrics.deduplicated.labels("in_flight").inc()
            return asyncio.shield(running)
        if self.draining:
            self.metrics.rejected.labels("draining").inc()
            raise Draining(
                "this agent is shutting down; send the task to another agent",
                headers={"Connection": "close"},
            )
        if len(self._running) >= self.limit:
            self.metrics.rejected.labels("busy").inc()
            raise Busy(
                f"this agent is at its limit of {self.limit} concurrent tasks",
                details={"maxConcurrentTasks": self.limit},
                headers={"Retry-After": str(self.settings.retry_after)},
            )
        execution = asyncio.create_task(self._execute(task, trace_id, on_delta), name=f"task {key}")
        self._running[key] = execution
        self._idle.clear()
        self.metrics.in_flight.set(len(self._running))
        execution.add_done_callback(lambda done: self._finished(key, done))
        return asyncio.shield(execution)

    def _finished(self, key: str, done: asyncio.Task[TaskResult]) -> None:
        if not done.cancelled():
            done.exception()  # retrieved here too: its requester may have gone away
        self._running.pop(key, None)
        self.metrics.in_flight.set(len(self._running))
        if not self._running:
            self._idle.set()

    async def _execute(
        self, task: NodeTask, trace_id: str | None, on_delta: OnDelta | None
    ) -> TaskResult:
        where = {
            "run_id": task.run_id,
            "node": task.node,
            "visit": task.visit,
            "attempt": task.attempt,
            "trace_id": trace_id,
        }
        start = time.perf_counter()
        outcome = "error"
        try:
            async with asyncio.timeout(task.timeout):
                result = await self.executor.execute(task, on_delta=on_delta)
            outcome = "succeeded"
        except TimeoutError:
            outcome = "timeout"
            log.warning("task timed out after %gs", task.timeout, extra=where)
            raise TaskError(f"timed out after {task.timeout:g}s (timeout)") from None
        except PermanentTaskError as exc:
            outcome = "permanent"
            log.warning("task failed for good: %s", exc, extra=where)
            raise
        except TaskError as exc:
            outcome = "failed"
            log.warning("task failed: %s", exc, extra=where)
            raise
        except Exception as exc:
            # The executor wraps what it expects; anything else is a bug, retryable like in-process.
            log.exception("task raised an unexpected error", extra=where)
            raise TaskError(redact(f"{type(exc).__name__}: {exc}")) from None
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.tasks.labels(task.type, outcome).inc()
            self.metrics.duration.labels(task.type, outcome).observe(elapsed)
        self.cache.put(task.idempotency_key, result)
        self.metrics.tokens.labels("input").inc(result.usage.input_tokens)
        self.metrics.tokens.labels("output").inc(result.usage.output_tokens)
        log.info("task succeeded in %.3fs", elapsed, extra=where)
        return result

    def start_draining(self) -> None:
        """Stop being ready and refuse new tasks; tasks in flight go on."""
        if not self.draining:
            log.info("draining: %d task(s) in flight", len(self._running))
        self.draining = True
        self.metrics.draining.set(1)

    async def wait_idle(self) -> None:
        """Return when no task is in flight."""
        await self._idle.wait()
