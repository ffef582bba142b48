"""One execution of a run: from its transition to running to where it settles in the store.

An execution starts the run (or goes on with it from its last checkpoint), streams the compiled
graph with a ``RunContext`` that records each step, renews the run's lease meanwhile, and ends
with one last transition: succeeded, interrupted (a person is asked), queued again (no agent is
free, or the store failed), or failed. Each piece of a run's state has one owner here: the
``Execution`` holds the run's record as last written, the ``RunContext`` its events and pending
steps, the ``LeaseRenewal`` its lease, the ``RunWatch`` its span and metrics, and the graph's
checkpointer its state between steps.

Every write the execution makes on the run is fenced (``stores.fencing``): once another process
took the run over (this one paused or cut off past its lease), the store refuses them
(``LeaseLost``) and the execution stops as when its lease renewal fails, writing nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from agent_runtime.engine.context import RunContext
from agent_runtime.engine.errors import RunCancelled, RunError, RunWaiting
from agent_runtime.engine.leases import LeaseRenewal, taken_over
from agent_runtime.engine.observe import RunWatch, earlier_traces, lease_takeover
from agent_runtime.engine.thread_state import last_values, leaving, start_state, thread_base
from agent_runtime.spec.workflow import WorkflowSpec
from agent_runtime.stores import (
    InvalidTransition,
    LeaseLost,
    RunNotFound,
    RunRecord,
    RunStatus,
)
from agent_runtime.stores.fencing import fenced
from agent_runtime.stores.records import utcnow
from agent_runtime.telemetry.secrets import redact

log = logging.getLogger(__name__)

#: Bounds of how long a run that found no agent free stays out of reach of claims (seconds):
#: an agent's ``Retry-After`` is honoured within them.
MIN_WAIT, MAX_WAIT = 0.05, 60.0

#: Where a "values" chunk of the stream holds the run's interrupts (LangGraph keeps its own
#: constant private).
INTERRUPTS = "__interrupt__"


class Execution:
    """Executes one run in this process until it settles; ``execute`` returns it as it settled."""

    def __init__(
        self,
        run: RunRecord,
        spec: WorkflowSpec,
        graph: CompiledStateGraph[Any, RunContext, Any, Any],
        ctx: RunContext,
        *,
        owner: str,
        lease_ttl: float,
        wait_backoff: float,
    ) -> None:
        #: The run's record as last written by this execution.
        self.run = run
        self.spec = spec
        self.graph = graph
        self.ctx = ctx
        self.store = ctx.store
        self.owner = owner
        self.lease_ttl = lease_ttl
        #: How long a run waiting for agents stays out of reach of claims before it is tried again.
        self.wait_backoff = wait_backoff
        self.config: RunnableConfig = {
            "configurable": {"thread_id": run.id},
            "recursion_limit": spec.limits.max_steps,
        }

    async def execute(self, resume: dict[str, Any] | None) -> RunRecord:
        """Start (or go on with) the run, stream its graph and settle it where the graph stops."""
        started = await self._has_checkpoint()
        base = None if started or resume is not None else await thread_base(self.store, self.run)
        graph_input = self._graph_input(resume, started=started, base=base)
        # A run this process claimed starts only while the claim holds; one it was handed
        # (``runs resume``, a dead owner's) takes the lease with its start.
        claimed = self.run.lease_owner == self.owner
        try:
            with fenced(self.run.id, self.owner) if claimed else contextlib.nullcontext():
                watch = await self._start(started=started)
        except LeaseLost:
            return await self._refused()
        lost = False
        if not started and resume is None:
            self.store.expect_new_thread(self.run.id)
        with fenced(self.run.id, self.owner):
            renewal = LeaseRenewal(self.store, self.run.id, owner=self.owner, ttl=self.lease_ttl)
            self.ctx.lease = renewal
            try:
                await self._stream_and_settle(graph_input, renewal)
            except LeaseLost:
                lost = True
            finally:
                await renewal.stop()
                if lost or renewal.lost:
                    self.ctx.abandon()
                else:
                    try:
                        await self.ctx.close()
                    except Exception:
                        self.ctx.abandon()  # refused or failed: never written later
                watch.finish(self.run)
        return await self._refused() if lost else self.run

    async def _refused(self) -> RunRecord:
        """The store refused a write (``LeaseLost``): the run as it is now if it finished (a
        cancel, say), else ``lease_lost``: another process goes on with it (or it was erased)."""
        try:
            self.run = await self.store.get_run(self.run.id)
        except RunNotFound:
            raise RunError(
                f"run {self.run.id!r} was deleted while it ran here", code="lease_lost"
            ) from None
        if self.run.status.finished:
            return self.run
        raise RunError(
            f"run {self.run.id!r}: this process lost its lease; it writes nothing more",
            code="lease_lost",
        )

    async def _has_checkpoint(self) -> bool:
        """Whether the run ran before; one that never did has no checkpoint (its first
        transition to running comes before its first step)."""
        return (
            self.run.started_at is not None
            and await self.store.checkpointer().aget_tuple(self.config) is not None
        )

    def _graph_input(
        self, resume: dict[str, Any] | None, *, started: bool, base: dict[str, Any] | None = None
    ) -> Any:
        """The answer to the interrupt it waits at, nothing (go on from the last checkpoint),
        or the initial state of a run that never ran (from ``base``, its thread's values)."""
        if resume is not None:
            return Command(resume=resume)
        if started:
            return None
        return start_state(self.spec, self.run.input, base)

    async def _start(self, *, started: bool) -> RunWatch:
        """The run's transition to running, taking its lease, with its start event; its span
        begins here (and ends here too if the transition fails)."""
        run = self.run
        if taken_over(run, self.owner):
            lease_takeover()
        links = await earlier_traces(self.store, run.id) if started else []
        watch = RunWatch(
            run, resumed=started, links=links, parent=None if started else run.traceparent
        )
        try:
            self.run, event = await self.store.transition_and_emit(
                run.id,
                RunStatus.RUNNING,
                "run.started" if not started else "run.resumed",
                {"status": "running", **watch.event_data()},
                lease_owner=self.owner,
                lease_expires_at=utcnow() + timedelta(seconds=self.lease_ttl),
                error=None,
                interrupt=None,
                resume_input=None,
            )
        except BaseException:
            watch.finish(run)
            raise
        await self.ctx.tell(event)
        return watch

    async def _stream_and_settle(self, graph_input: Any, renewal: LeaseRenewal) -> None:
        """Every way the graph can stop, mapped to the run's last transition of this stretch."""
        limits = self.spec.limits
        try:
            await self._settle(await self._stream(graph_input))
        except RunCancelled:
            self.run = await self.store.get_run(self.run.id)
        except RunWaiting as exc:
            await self._wait_for_agents(exc)
        except GraphRecursionError:
            await self._fail(
                RunError(
                    f"limits.maxSteps: the run took more than {limits.max_steps} steps",
                    code="max_steps",
                )
            )
        except TimeoutError:
            await self._fail(
                RunError(
                    f"limits.timeout: the run took longer than {limits.timeout:g}s",
                    code="timeout",
                )
            )
        except RunError as exc:
            await self._fail(exc)
        except LeaseLost:
            raise  # not the store's failure: another process has the run now
        except asyncio.CancelledError:
            if renewal.lost:
                raise RunError(
                    f"run {self.run.id!r}: this process lost its lease", code="lease_lost"
                ) from None
            raise
        except Exception as exc:
            if self.store.is_transient(exc):
                await self._requeue_after_store_failure(exc)
                return
            log.error("run %s failed unexpectedly: %r", self.run.id, exc)
            log.debug("traceback of run %s", self.run.id, exc_info=True)
            message = redact(f"internal error: {exc.__class__.__name__}: {exc}")
            await self._fail(RunError(message, code="internal"))

    async def _stream(self, graph_input: Any) -> dict[str, Any]:
        """Run the graph to where it stops, within ``limits.timeout``: the state it stopped
        with, interrupts included."""
        values: dict[str, Any] | None = None
        async with asyncio.timeout(self.spec.limits.timeout):
            # The last "values" chunk is the state the run ended with (interrupts included),
            # so that it need not be read back from the store.
            async for chunk in self.graph.astream(
                graph_input,
                self.config,
                context=self.ctx,
                stream_mode="values",
                durability="sync",
            ):
                values = chunk
        if values is None:
            snapshot = await self.graph.aget_state(self.config)
            values = {**snapshot.values, INTERRUPTS: snapshot.interrupts}
        return values

    async def _settle(self, values: dict[str, Any]) -> None:
        """Interrupted at a human node or an approval, or succeeded with its output."""
        if interrupts := values.get(INTERRUPTS):
            request = dict(interrupts[0].value)
            await self._finish(
                RunStatus.INTERRUPTED,
                ("run.interrupted", request),
                interrupt=request,
                lease_owner=None,
                lease_expires_at=None,
                **leaving(self.run, self.spec, values),
            )
            return
        output = {k: values.get(k) for k in self.spec.output}
        await self._finish(
            RunStatus.SUCCEEDED,
            ("run.finished", {"status": "succeeded", "output": output}),
            output=output,
            **leaving(self.run, self.spec, values),
        )

    async def _wait_for_agents(self, waiting: RunWaiting) -> None:
        """Back to the queue, out of reach of claims until the agents may be free again."""
        wait = self.wait_backoff if waiting.retry_after is None else waiting.retry_after
        retry_at = utcnow() + timedelta(seconds=min(max(wait, MIN_WAIT), MAX_WAIT))
        await self._finish(
            RunStatus.QUEUED,
            ("run.waiting", waiting.as_dict()),
            lease_owner=None,
            lease_expires_at=retry_at,
            waiting_for=waiting.capability,
        )

    async def _requeue_after_store_failure(self, exc: Exception) -> None:
        """The store failed, not the run: leave it to be claimed again from its last checkpoint
        once the store is back (at once if this write gets through)."""
        log.warning(
            "run %s: store unavailable (%s); the run goes back to the queue", self.run.id, exc
        )
        with contextlib.suppress(Exception):
            self.run = await self.store.transition(
                self.run.id,
                RunStatus.QUEUED,
                lease_owner=None,
                lease_expires_at=utcnow() + timedelta(seconds=self.wait_backoff),
            )

    async def _fail(self, error: RunError) -> None:
        await self._finish(
            RunStatus.FAILED,
            ("run.finished", {"status": "failed", "error": error.as_dict()}),
            error=error.as_dict(),
            **leaving(self.run, self.spec, await last_values(self.store, self.run)),
        )

    async def _finish(
        self, status: RunStatus, event: tuple[str, dict[str, Any]], **changes: Any
    ) -> None:
        """The run's last transition of this stretch and its event, in one write."""
        await self.ctx.close()
        try:
            self.run, told = await self.store.transition_and_emit(
                self.run.id, status, *event, **changes
            )
        except InvalidTransition:
            self.run = await self.store.get_run(self.run.id)  # cancelled meanwhile: that wins
            return
        await self.ctx.tell(told)
