"""Starting a run for a caller: the one path every protocol takes (the Runs API, the LangGraph
API, and the protocols after it), so none of them is a side door past RBAC, readiness or the
namespace's admission limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.access import actor, scoped_key
from agent_runtime.gateway.catalog import Entry
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.trace_context import CALLER_TRACE
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunRecord
from agent_runtime.stores.records import TriggeredBy


class Refused(AgentRuntimeError):
    """The gateway will not start (or show) this; ``code`` says why (its HTTP status is the
    one ``agent_runtime.errors.HTTP_STATUS`` gives it)."""

    def __init__(
        self, code: str, message: str, *, details: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = details
        #: Seconds until the same request may be admitted (a 429's ``Retry-After``).
        self.retry_after = retry_after


def invalid(field: str, message: str, *, code: str = "invalid_request") -> Refused:
    """A 422 naming the field at fault, as every body the gateway refuses does."""
    return Refused(code, f"{field}: {message}", details=[{"field": field, "message": message}])


def no_workflow(namespace: str, name: str) -> Refused:
    return Refused("workflow_not_found", f"no workflow {namespace}/{name}")


async def visible_entry(gateway: Gateway, caller: Identity, namespace: str, name: str) -> Entry:
    """The catalog entry, when the caller may start its runs or read its namespace's runs; the
    same 404 as a missing one otherwise."""
    access = gateway.access
    entry = gateway.catalog.get(namespace, name)
    allowed = await access.may(caller, "create", namespace, name) or await access.may(
        caller, "list", namespace
    )
    if entry is None or not allowed:
        raise no_workflow(namespace, name)
    return entry


async def runnable(gateway: Gateway, caller: Identity, namespace: str, name: str) -> Workflow:
    """The Workflow, when the caller may start it and it is ready."""
    access = gateway.access
    if not await access.may(caller, "create", namespace, name):
        if await access.may(caller, "get", namespace, name):
            raise Refused("forbidden", f"you may not start runs of {namespace}/{name}")
        raise no_workflow(namespace, name)
    entry = gateway.catalog.get(namespace, name)
    if entry is None:
        raise no_workflow(namespace, name)
    if entry.workflow is None or not entry.ready:
        raise Refused("workflow_not_ready", "; ".join(entry.problems) or "not ready")
    return entry.workflow


async def start_run(
    gateway: Gateway,
    caller: Identity,
    workflow: Workflow,
    given: Mapping[str, Any],
    *,
    idempotency_key: str | None = None,
    queue: bool = True,
    thread_id: str | None = None,
    enqueue: bool = False,
    triggered_by: TriggeredBy | None = None,
    run_id: str | None = None,
) -> RunRecord:
    """Admit and record a queued run of ``workflow`` (from ``runnable``) and wake a worker; on
    ``thread_id``, a thread the caller may read (404 otherwise, as if there were none), queued
    there while another run holds it with ``enqueue`` (``double_texting``). ``run_id``: the
    new run's id, so a caller can tell it from the run an idempotency key already named."""
    if thread_id is not None:
        await gateway.access.readable_thread(caller, await gateway.store.get_thread(thread_id))
    if refused := await gateway.admission.admit(caller, workflow.namespace, queue=queue):
        code = "namespace_busy" if refused.limit == "namespace_in_flight" else "rate_limited"
        raise Refused(
            code,
            refused.message,
            details={"limit": refused.limit},
            retry_after=refused.retry_after,
        )
    key = scoped_key(caller, idempotency_key) if idempotency_key else None
    run = await gateway.engine.create_run(
        workflow,
        given,
        idempotency_key=key,
        created_by=actor(caller),
        thread_id=thread_id,
        enqueue=enqueue,
        traceparent=CALLER_TRACE.get(),
        triggered_by=triggered_by,
        run_id=run_id,
    )
    gateway.worker.wake()
    return run
