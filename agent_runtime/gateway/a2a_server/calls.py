"""One JSON-RPC call on an agent: who calls which Workflow, and the runs it starts, resumes or
reads, through the Runs API's paths (``launch.start_run``, ``engine.queue_resume``,
``engine.queue_approval``, ``engine.cancel``) with the Runs API's RBAC on each."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from a2a.server.context import ServerCallContext
from a2a.types import Message
from a2a.utils.errors import InvalidRequestError, TaskNotCancelableError

from agent_runtime.auth import Identity
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.errors import RunError
from agent_runtime.gateway.a2a_server.errors import bad_field, no_task, storable
from agent_runtime.gateway.a2a_server.messages import answer, run_input
from agent_runtime.gateway.access import Verb, actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import start_run
from agent_runtime.gateway.mcp_server.waiting import last_seq
from agent_runtime.gateway.routes.threads import THREAD_ID
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunNotFound, RunRecord, RunStatus
from agent_runtime.stores.errors import ThreadNotFound
from agent_runtime.stores.records import ThreadRecord

#: The key a call's ``Call`` is kept under, in the request's scope and the SDK's call context.
KEY = "configurable_agents.a2a"
CONTEXT = "message.contextId"


@dataclass(frozen=True)
class Call:
    gateway: Gateway
    caller: Identity
    #: The agent called: a Workflow the caller may start runs of.
    workflow: Workflow

    @classmethod
    def of(cls, context: ServerCallContext) -> Call:
        call: Call = context.state[KEY]
        return call

    async def task(self, task_id: str, verb: Verb = "get") -> RunRecord:
        """A run of this agent the caller may read (and, for ``update``, change); another
        agent's, and one the caller may not read, are as missing as none."""
        storable(task_id, "id")
        access, workflow = self.gateway.access, self.workflow
        try:
            run = await self.gateway.store.get_run(task_id)
        except RunNotFound:
            raise no_task(task_id) from None
        mine = (run.namespace, run.workflow) == (workflow.namespace, workflow.name)
        if not mine or not await access.may(self.caller, "get", run.namespace, run.workflow):
            raise no_task(task_id)
        if verb == "update" and not await access.may(
            self.caller, "update", run.namespace, run.workflow
        ):
            raise InvalidRequestError(
                f"you may not resume or cancel task {task_id}", data={"code": "forbidden"}
            )
        return run

    async def take(self, message: Message) -> tuple[RunRecord, int]:
        """The run a message starts, or resumes when it names a task; the last event before
        it (a stream reports what follows)."""
        if message.task_id:
            return await self.resume(message)
        given = run_input(self.workflow, message)
        thread_id = await self.context(message.context_id)
        run = await start_run(self.gateway, self.caller, self.workflow, given, thread_id=thread_id)
        return run, 0

    async def context(self, context_id: str) -> str:
        """The thread a message's context is: a new one without it, made on first use, and
        otherwise one of this agent's that the caller may read (another's, or one they may
        not read, is refused alike)."""
        workflow, store = self.workflow, self.gateway.store
        if context_id:
            storable(context_id, CONTEXT)
            try:
                found = await store.get_thread(context_id)
            except ThreadNotFound:
                if not re.fullmatch(THREAD_ID, context_id):
                    raise bad_field(CONTEXT, f"expected an id matching {THREAD_ID}") from None
            else:
                mine = found.namespace == workflow.namespace and found.workflow in (
                    None,
                    workflow.name,
                )
                readable = await self.gateway.access.may(
                    self.caller, "get", found.namespace, found.workflow or ""
                )
                if not (mine and readable):
                    raise bad_field(CONTEXT, "a context of another agent")
                return found.id
        thread = ThreadRecord(
            id=context_id or str(uuid.uuid4()),
            namespace=workflow.namespace,
            workflow=workflow.name,
            created_by=actor(self.caller),
        )
        return (await store.create_thread(thread)).id

    async def resume(self, message: Message) -> tuple[RunRecord, int]:
        """Answer what the task's run waits for, as ``POST /v1/runs/{id}/resume`` (or
        ``/approve``) does."""
        run = await self.task(message.task_id, "update")
        if message.context_id and message.context_id != run.thread_id:
            raise bad_field(CONTEXT, f"task {run.id} is in context {run.thread_id}")
        if run.status != RunStatus.INTERRUPTED:
            raise bad_field(
                "message.taskId",
                f"task {run.id} is {run.status.value}: only a task waiting for input takes "
                "a message",
            )
        given = answer(run.interrupt or {}, message)
        after = await last_seq(self.gateway, run.id)
        engine, by = self.gateway.engine, actor(self.caller)
        if isinstance(given, ApprovalInput):
            run = await engine.queue_approval(run.id, given, by=by)
        else:
            run = await engine.queue_resume(run.id, given, by=by)
        self.gateway.worker.wake()
        return run, after

    async def cancel(self, task_id: str) -> RunRecord:
        """Cancel the task's run, as ``POST /v1/runs/{id}/cancel`` does."""
        run = await self.task(task_id, "update")
        try:
            return await self.gateway.engine.cancel(run.id, by=actor(self.caller))
        except RunError as exc:
            if exc.code != "conflict":
                raise
            raise TaskNotCancelableError(str(exc), data={"code": exc.code}) from None
