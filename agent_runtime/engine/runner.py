"""Running workflows durably: create runs, execute them, answer what they wait for, cancel them.

``Engine`` is the engine's front: it records runs in the run store, decides whether a run may go
on in this process, and hands each execution to an ``Execution`` (``engine.execution``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from agent_runtime.engine.approvals import ApprovalInput, answer, records
from agent_runtime.engine.compiler import CompiledWorkflow, compile_workflow
from agent_runtime.engine.context import Budgets, Listener, RunContext
from agent_runtime.engine.deltas import DELTA_INTERVAL
from agent_runtime.engine.dispatch import Dispatcher
from agent_runtime.engine.errors import RunError
from agent_runtime.engine.execution import Execution
from agent_runtime.engine.leases import check_free, local_owner
from agent_runtime.engine.thread_state import last_values, leaving
from agent_runtime.spec.run_input import check_fields, check_input
from agent_runtime.spec.workflow import HumanNode, Workflow
from agent_runtime.stores import Actor, InvalidTransition, RunRecord, RunStatus, RunStore
from agent_runtime.stores.records import TriggeredBy
from agent_runtime.telemetry.metrics import TriggerMetrics

log = logging.getLogger(__name__)


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
        delta_interval: float | None = DELTA_INTERVAL,
        listeners: list[Listener] | None = None,
    ) -> None:
        """``delta_interval``: seconds of model text per ``node.delta`` event (None: none);
        ``listeners``: told every event of every run (besides each execution's own)."""
        self.store = store
        self.delta_interval = delta_interval
        self.listeners = list(listeners or [])
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
        given: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        run_id: str | None = None,
        created_by: Actor | None = None,
        thread_id: str | None = None,
        enqueue: bool = False,
        traceparent: str | None = None,
        triggered_by: TriggeredBy | None = None,
    ) -> RunRecord:
        """Record a queued run; nothing is written when the input is bad (checked here unless
        ``given`` was checked against this spec already, as the CLI does). On a thread, the
        store refuses it while another run holds the thread (``ThreadConflict``), or with
        ``enqueue`` queues it there, to start when the runs before it are done. The run joins
        the trace of ``traceparent`` (its caller's) when it starts."""
        given = dict(check_input(workflow.spec, given))
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
            thread_id=thread_id,
            traceparent=traceparent,
            triggered_by=triggered_by,
        )
        created = await self.store.create_run(record, enqueue=enqueue)
        if created.id == record.id and triggered_by is not None:  # once, whoever fired it
            TriggerMetrics.for_registry().runs.labels(
                triggered_by.namespace, triggered_by.name, triggered_by.source
            ).inc()
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

    async def execute(
        self,
        run_id: str,
        *,
        resume: dict[str, Any] | None = None,
        listeners: list[Listener] | None = None,
        claimed: RunRecord | None = None,
    ) -> RunRecord:
        """Run (or go on with) a run until it finishes or waits at a human node. ``claimed``:
        the run as this process's claim of it returned it, current, so not read again."""
        run = claimed if claimed is not None and claimed.id == run_id else None
        if run is None:
            run = await self.store.get_run(run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED):
            return run
        resume = _answer_to_give(run, resume)
        check_free(run, self.owner)
        workflow = self.workflow_of(run)
        ctx = RunContext(
            run.id,
            f"{run.namespace}/{run.workflow}",
            self.store,
            self.dispatcher,
            [*(listeners or []), *self.listeners],
            namespace=run.namespace,
            budgets=self.budgets,
            delta_interval=self.delta_interval,
        )
        execution = Execution(
            run,
            workflow.spec,
            self.compiled(workflow).bind(self.store.checkpointer()),
            ctx,
            owner=self.owner,
            lease_ttl=self.lease_ttl,
            wait_backoff=self.wait_backoff,
        )
        return await execution.execute(resume)

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

    async def cancel(self, run_id: str, *, by: Actor | None = None, keep: bool = True) -> RunRecord:
        """Cancel a run; its thread keeps what it got to (LangGraph's state is its last
        checkpoint), or with ``keep`` false (a rollback) is left as it was before it. The
        transition ends its lease: whoever executes it can write nothing more on it."""
        run = await self.store.get_run(run_id)
        progress = {}
        if keep:
            values = await last_values(self.store, run)
            progress = leaving(run, self.workflow_of(run).spec, values)
        try:
            run = await self.store.transition(
                run_id, RunStatus.CANCELLED, cancelled_by=by, **progress
            )
        except InvalidTransition:
            raise RunError(
                f"run {run_id!r} is {run.status.value}; it cannot be cancelled", code="conflict"
            ) from None
        await RunContext(run_id, run.workflow, self.store, self.dispatcher).emit(
            "run.finished", {"status": run.status.value}
        )
        return run


def _answer_to_give(run: RunRecord, resume: dict[str, Any] | None) -> dict[str, Any] | None:
    """The answer the run goes on with: the one given, else the one queued with it; a run that
    waits for an answer does not go on without one."""
    if resume is None and run.status == RunStatus.QUEUED and run.resume_input is not None:
        resume = run.resume_input
    if run.status == RunStatus.INTERRUPTED and resume is None:
        waits = run.interrupt or {}
        what = "an approval" if waits.get("kind") == "approval" else "input"
        raise RunError(
            f"run {run.id!r} waits for {what} at node '{waits.get('node')}'",
            code="interrupted",
        )
    return resume
