"""Running workflows durably: create, execute, resume and cancel runs recorded in the run store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from agent_runtime.engine.approvals import ApprovalInput, answer, records
from agent_runtime.engine.compiler import CompiledWorkflow, compile_workflow
from agent_runtime.engine.context import Budgets, Listener, RunContext
from agent_runtime.engine.dispatch import Dispatcher
from agent_runtime.engine.errors import RunCancelled, RunError, RunWaiting
from agent_runtime.engine.observe import RunWatch, earlier_traces, lease_takeover
from agent_runtime.engine.state import check_fields, check_input, initial_state
from agent_runtime.spec.workflow import HumanNode, Workflow
from agent_runtime.stores import Actor, InvalidTransition, RunRecord, RunStatus, RunStore
from agent_runtime.stores.records import utcnow
from agent_runtime.telemetry.secrets import redact

log = logging.getLogger(__name__)

#: Bounds of how long a run that found no agent free stays out of reach of claims (seconds):
#: an agent's ``Retry-After`` is honoured within them.
MIN_WAIT, MAX_WAIT = 0.05, 60.0

#: Where a "values" chunk of the stream holds the run's interrupts (LangGraph keeps its own
#: constant private).
INTERRUPTS = "__interrupt__"


def local_owner() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def _owner_is_dead(owner: str) -> bool:
    """A lease held by a process of this host that no longer exists can be taken at once."""
    host, _, pid = owner.partition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def new_run_id() -> str:
    return f"run-{uuid.uuid4().hex[:16]}"


class Engine:
    """Executes runs with a dispatcher for node tasks and a store for every step."""

    def __init__(
        self,
        store: RunStore,
        dispatcher: Dispatcher,
        *,
        owner: str | None = None,
        lease_ttl: float = 30.0,
        wait_backoff: float = 2.0,
        budgets: Budgets | None = None,
    ) -> None:
        self.store = store
        #: The namespace budgets the platform sets, if any.
        self.budgets = budgets
        self.dispatcher = dispatcher
        self.owner = owner or local_owner()
        self.lease_ttl = lease_ttl
        #: How long a run waiting for agents stays out of reach of claims before it is tried again.
        self.wait_backoff = wait_backoff
        self._compiled: dict[str, CompiledWorkflow] = {}
        self._workflows: dict[tuple[str, str, str], Workflow] = {}

    def workflow_of(self, run: RunRecord) -> Workflow:
        """The exact Workflow a run started with, validated once per content hash."""
        key = (run.namespace, run.workflow, run.spec_hash)
        found = self._workflows.get(key)
        if found is None:
            found = self._workflows[key] = Workflow.model_validate(run.spec)
        return found

    def compiled(self, workflow: Workflow) -> CompiledWorkflow:
        key = workflow.spec.content_hash()
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_workflow(workflow)
        return found

    async def create_run(
        self,
        workflow: Workflow,
        given: dict[str, Any],
        *,
        idempotency_key: str | None = None,
        run_id: str | None = None,
        created_by: Actor | None = None,
    ) -> RunRecord:
        """Check the input and record a queued run; nothing is written when the input is bad."""
        check_input(workflow.spec, given)
        record = RunRecord(
            id=run_id or new_run_id(),
            namespace=workflow.namespace,
            workflow=workflow.name,
            generation=workflow.metadata.generation,
            spec_hash=workflow.spec.content_hash(),
            spec=workflow.document,
            input=given,
            idempotency_key=idempotency_key,
            created_by=created_by,
        )
        created = await self.store.create_run(record)
        if created.id == record.id:
            who = f" for {created_by.username}" if created_by else ""
            log.info(
                "run %s accepted (%s/%s)%s",
                created.id,
                workflow.namespace,
                workflow.name,
                who,
                extra={"run_id": created.id},
            )
        if created.id != record.id and created.input != given:
            # as payment APIs do: a key names one request, not whatever comes with it next
            raise RunError(
                "idempotencyKey: already used for a run with another input "
                f"({created.id}); use a new key for new input",
                code="idempotency_conflict",
            )
        return created

    async def resume(
        self, run_id: str, given: dict[str, Any], *, listeners: list[Listener] | None = None
    ) -> RunRecord:
        """Answer the human node a run waits at; the input is checked before anything changes."""
        await self.check_resume(run_id, given)
        return await self.execute(run_id, resume=given, listeners=listeners)

    async def _waiting(self, run_id: str, kind: str) -> RunRecord:
        """The run if it waits for ``kind`` (``input`` at a human node, or an ``approval``)."""
        run = await self.store.get_run(run_id)
        if run.status != RunStatus.INTERRUPTED or not run.interrupt:
            raise RunError(
                f"run {run_id!r} is {run.status.value}, not interrupted", code="not_interrupted"
            )
        waits_for = run.interrupt.get("kind", "input")
        if waits_for != kind:
            how = "approve or deny it" if waits_for == "approval" else "resume it with input"
            raise RunError(
                f"run {run_id!r} waits for {'an approval' if waits_for == 'approval' else 'input'}"
                f" at node '{run.interrupt.get('node')}': {how}",
                code="conflict",
            )
        return run

    async def check_resume(self, run_id: str, given: dict[str, Any]) -> RunRecord:
        """The run if it waits at a human node and ``given`` answers it; raises otherwise."""
        run = await self._waiting(run_id, "input")
        assert run.interrupt is not None
        node = self.workflow_of(run).spec.node(run.interrupt["node"])
        assert isinstance(node, HumanNode)
        check_fields(node.output, given)
        return run

    async def queue_resume(
        self, run_id: str, given: dict[str, Any], *, by: Actor | None = None
    ) -> RunRecord:
        """Answer a human node and queue the run, for whichever worker claims it next."""
        await self.check_resume(run_id, given)
        return await self.store.transition(
            run_id, RunStatus.QUEUED, resume_input=given, resumed_by=by
        )

    async def queue_approval(
        self, run_id: str, given: ApprovalInput, *, by: Actor | None = None
    ) -> RunRecord:
        """Record a person's answer to a run waiting for an approval and queue the run. The
        record is written with the transition, so no gated call runs without it."""
        run = await self._waiting(run_id, "approval")
        assert run.interrupt is not None
        waiting = run.interrupt.get("id")
        if given.request is not None and given.request != waiting:
            raise RunError(
                f"request: run {run_id!r} now waits for request {waiting!r}, not "
                f"{given.request!r}; nothing was decided",
                code="conflict",
            )
        decided = answer(run.interrupt, given)
        return await self.store.transition(
            run_id,
            RunStatus.QUEUED,
            resume_input=decided.model_dump(by_alias=True),
            resumed_by=by,
            approvals=[*run.approvals, *records(run.interrupt, decided, by)],
        )

    async def cancel(self, run_id: str, *, by: Actor | None = None) -> RunRecord:
        run = await self.store.get_run(run_id)
        try:
            run = await self.store.transition(run_id, RunStatus.CANCELLED, cancelled_by=by)
        except InvalidTransition:
            raise RunError(
                f"run {run_id!r} is {run.status.value}; it cannot be cancelled", code="conflict"
            ) from None
        await RunContext(run_id, run.workflow, self.store, self.dispatcher).emit(
            "run.finished", {"status": run.status.value}
        )
        return run

    async def execute(
        self,
        run_id: str,
        *,
        resume: dict[str, Any] | None = None,
        listeners: list[Listener] | None = None,
    ) -> RunRecord:
        """Run (or go on with) a run until it finishes or waits at a human node."""
        run = await self.store.get_run(run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED):
            return run
        if resume is None and run.status == RunStatus.QUEUED and run.resume_input is not None:
            resume = run.resume_input
        if run.status == RunStatus.INTERRUPTED and resume is None:
            waits = run.interrupt or {}
            what = "an approval" if waits.get("kind") == "approval" else "input"
            raise RunError(
                f"run {run_id!r} waits for {what} at node '{waits.get('node')}'",
                code="interrupted",
            )
        if (
            run.status == RunStatus.RUNNING
            and run.lease_owner not in (None, self.owner)
            and run.lease_expires_at is not None
            and run.lease_expires_at > utcnow()
            and not _owner_is_dead(run.lease_owner)
        ):
            raise RunError(
                f"run {run_id!r} is being executed by {run.lease_owner} (lease until "
                f"{run.lease_expires_at:%H:%M:%S} UTC)",
                code="leased",
            )
        workflow = self.workflow_of(run)
        spec = workflow.spec
        graph = self.compiled(workflow).bind(self.store.checkpointer())
        config: RunnableConfig = {
            "configurable": {"thread_id": run.id},
            "recursion_limit": spec.limits.max_steps,
        }
        # A run that never ran has no checkpoint: the first transition to running comes first.
        started = (
            run.started_at is not None
            and await self.store.checkpointer().aget_tuple(config) is not None
        )
        graph_input: Any
        if resume is not None:
            graph_input = Command(resume=resume)
        elif started:
            graph_input = None
        else:
            graph_input = initial_state(spec, run.input)
        ctx = RunContext(
            run.id,
            f"{run.namespace}/{run.workflow}",
            self.store,
            self.dispatcher,
            list(listeners or []),
            namespace=run.namespace,
            budgets=self.budgets,
        )
        if run.status == RunStatus.RUNNING and run.lease_owner not in (None, self.owner):
            lease_takeover()
        links = await earlier_traces(self.store, run.id) if started else []
        watch = RunWatch(run, resumed=started, links=links)
        try:
            run, event = await self.store.transition_and_emit(
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
        await ctx.tell(event)
        renewer = asyncio.create_task(self._renew(run.id, asyncio.current_task()))
        try:
            values: dict[str, Any] | None = None
            async with asyncio.timeout(spec.limits.timeout):
                # The last "values" chunk is the state the run ended with (interrupts included),
                # so that it need not be read back from the store.
                async for chunk in graph.astream(
                    graph_input,
                    config,
                    context=ctx,
                    stream_mode="values",
                    durability="sync",
                ):
                    values = chunk
            if values is None:
                snapshot = await graph.aget_state(config)
                values = {**snapshot.values, INTERRUPTS: snapshot.interrupts}
            if interrupts := values.get(INTERRUPTS):
                request = dict(interrupts[0].value)
                run = await self._finish(
                    ctx,
                    RunStatus.INTERRUPTED,
                    ("run.interrupted", request),
                    interrupt=request,
                    lease_owner=None,
                    lease_expires_at=None,
                )
            else:
                output = {k: values.get(k) for k in spec.output}
                run = await self._finish(
                    ctx,
                    RunStatus.SUCCEEDED,
                    ("run.finished", {"status": "succeeded", "output": output}),
                    output=output,
                )
        except RunCancelled:
            run = await self.store.get_run(run.id)
        except RunWaiting as exc:
            wait = self.wait_backoff if exc.retry_after is None else exc.retry_after
            retry_at = utcnow() + timedelta(seconds=min(max(wait, MIN_WAIT), MAX_WAIT))
            run = await self._finish(
                ctx,
                RunStatus.QUEUED,
                ("run.waiting", exc.as_dict()),
                lease_owner=None,
                lease_expires_at=retry_at,
            )
        except GraphRecursionError:
            run = await self._fail(
                ctx,
                RunError(
                    f"limits.maxSteps: the run took more than {spec.limits.max_steps} steps",
                    code="max_steps",
                ),
            )
        except TimeoutError:
            run = await self._fail(
                ctx,
                RunError(
                    f"limits.timeout: the run took longer than {spec.limits.timeout:g}s",
                    code="timeout",
                ),
            )
        except RunError as exc:
            run = await self._fail(ctx, exc)
        except asyncio.CancelledError:
            if renewer.done() and renewer.result() is False:
                raise RunError(
                    f"run {run_id!r}: this process lost its lease", code="lease_lost"
                ) from None
            raise
        except Exception as exc:
            if self.store.is_transient(exc):
                # The store failed, not the run: leave it to be claimed again from its last
                # checkpoint once the store is back (at once if this write gets through).
                log.warning(
                    "run %s: store unavailable (%s); the run goes back to the queue", run.id, exc
                )
                with contextlib.suppress(Exception):
                    run = await self.store.transition(
                        run.id,
                        RunStatus.QUEUED,
                        lease_owner=None,
                        lease_expires_at=utcnow() + timedelta(seconds=self.wait_backoff),
                    )
                return run
            log.error("run %s failed unexpectedly: %r", run.id, exc)
            log.debug("traceback of run %s", run.id, exc_info=True)
            run = await self._fail(
                ctx,
                RunError(
                    redact(f"internal error: {exc.__class__.__name__}: {exc}"), code="internal"
                ),
            )
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await renewer
            with contextlib.suppress(Exception):
                await ctx.close()
            watch.finish(run)
        return run

    async def _finish(
        self,
        ctx: RunContext,
        status: RunStatus,
        event: tuple[str, dict[str, Any]],
        **changes: Any,
    ) -> RunRecord:
        """The run's last transition of this stretch and its event, in one write."""
        await ctx.close()
        try:
            run, told = await self.store.transition_and_emit(ctx.run_id, status, *event, **changes)
        except InvalidTransition:
            return await self.store.get_run(ctx.run_id)  # cancelled meanwhile: that wins
        await ctx.tell(told)
        return run

    async def _fail(self, ctx: RunContext, error: RunError) -> RunRecord:
        return await self._finish(
            ctx,
            RunStatus.FAILED,
            ("run.finished", {"status": "failed", "error": error.as_dict()}),
            error=error.as_dict(),
        )

    async def _renew(self, run_id: str, runner: asyncio.Task[Any] | None) -> bool:
        while True:
            await asyncio.sleep(self.lease_ttl / 3)
            if not await self.store.renew_lease(run_id, owner=self.owner, ttl=self.lease_ttl):
                log.warning("run %s: lease lost; stopping", run_id)
                if runner is not None:
                    runner.cancel()
                return False
