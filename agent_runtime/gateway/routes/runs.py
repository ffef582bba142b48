"""The Runs API: create, list, show, stream, resume and cancel runs.

Every route authenticates its caller and asks RBAC (``access``) before it touches a run: a run the
caller may not read answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from sse_starlette import EventSourceResponse

from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.gateway import events
from agent_runtime.gateway.access import actor, client_key
from agent_runtime.gateway.deps import CallerDep, GatewayDep, storable_text
from agent_runtime.gateway.double_texting import Strategy, make_way, may_use
from agent_runtime.gateway.errors import error
from agent_runtime.gateway.launch import runnable, start_run
from agent_runtime.gateway.openapi import (
    RUN_LINKS,
    RunAccepted,
    RunDetail,
    RunForCaller,
    RunPage,
    errors,
)
from agent_runtime.stores import RunRecord, RunStatus
from agent_runtime.stores.thread_rules import PARKED

router = APIRouter(tags=["runs"], dependencies=[Depends(storable_text)])


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class CreateRun(Body):
    input: dict[str, Any] = Field(default_factory=dict)
    #: Answer only when the run finished or waits at a human node (200), instead of 202 at once.
    wait: bool = False
    idempotency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    #: When the namespace is at its cap of runs in flight: wait queued (true) or answer 429.
    queue: bool = True
    #: Run on this thread (of the same namespace): start from its values; while another run
    #: holds it, as ``multitask_strategy`` says.
    thread_id: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    #: Double texting (``double_texting``): ``reject`` (409), ``enqueue`` (start after the runs
    #: before it), ``interrupt`` (cancel them, keeping their progress, then start) or
    #: ``rollback`` (cancel and erase them, then start).
    multitask_strategy: Strategy = "reject"


class ResumeRun(Body):
    input: dict[str, Any] = Field(default_factory=dict)


def view(run: RunRecord) -> dict[str, Any]:
    out = run.model_dump(mode="json", by_alias=True, exclude={"spec", "resume_input"})
    out["idempotencyKey"] = client_key(run.idempotency_key)
    if run.lease_expires_at == PARKED:  # waiting its turn on its thread: no lease ends
        out["leaseExpiresAt"] = None
    return out


async def detailed(gateway: GatewayDep, run: RunRecord) -> dict[str, Any]:
    out = view(run)
    steps = await gateway.store.list_steps(run.id)
    out["steps"] = [s.model_dump(mode="json", by_alias=True, exclude={"run_id"}) for s in steps]
    return out


#: Event numbers are the store's 64-bit integers: a larger one is no event of any run.
MAX_EVENT = 2**63 - 1


def event_number(text: str) -> int | None:
    """``Last-Event-ID`` as an event number: ASCII digits (``isdigit`` alone takes "²", which
    ``int`` refuses) no larger than the store's."""
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(MAX_EVENT))):
        return None
    number = int(text)
    return number if number <= MAX_EVENT else None


def forbidden(what: str) -> Response:
    return error(403, "forbidden", f"you may not {what}")


@router.post(
    "/v1/workflows/{namespace}/{name}/runs",
    status_code=202,
    response_model=None,
    operation_id="createRun",
    responses={
        200: {"model": RunDetail, "description": "With wait: the run settled", "links": RUN_LINKS},
        202: {"model": RunAccepted, "description": "Accepted", "links": RUN_LINKS},
        **errors(401, 403, 404, 409, 422, 429, 503),
    },
)
async def create_run(
    namespace: str,
    name: str,
    body: CreateRun,
    gateway: GatewayDep,
    caller: CallerDep,
    response: Response,
) -> dict[str, Any] | Response:
    workflow = await runnable(gateway, caller, namespace, name)
    if body.thread_id is not None:
        await may_use(gateway, caller, namespace, name, body.multitask_strategy)
    run = await start_run(
        gateway,
        caller,
        workflow,
        body.input,
        idempotency_key=body.idempotency_key,
        queue=body.queue,
        thread_id=body.thread_id,
        enqueue=body.multitask_strategy != "reject",
    )
    await make_way(gateway, caller, run, body.multitask_strategy)
    if body.wait:
        try:
            async with asyncio.timeout(gateway.settings.wait_timeout):
                settled = await gateway.wait_settled(run.id)
        except TimeoutError:  # still going: answered as without wait, to poll or stream
            run = await gateway.store.get_run(run.id)
        else:
            response.status_code = 200
            return await detailed(gateway, settled)
    return {"id": run.id, "status": run.status.value}


@router.get(
    "/v1/runs",
    operation_id="listRuns",
    response_model=None,
    responses={200: {"model": RunPage}, **errors(400, 401, 422, 503)},
)
async def list_runs(
    gateway: GatewayDep,
    caller: CallerDep,
    workflow: str | None = None,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
    created_by: Annotated[str | None, Query(alias="createdBy", max_length=512)] = None,
) -> dict[str, Any]:
    named, _, _ = (workflow or "").rpartition("/")
    candidates = [named] if named else gateway.known_namespaces()
    namespaces = await gateway.access.listable_namespaces(caller, candidates)
    page = await gateway.store.list_runs(
        workflow=workflow,
        status=status,
        namespaces=namespaces,
        created_by=created_by,
        limit=limit,
        cursor=cursor,
    )
    return {"items": [view(r) for r in page.items], "nextCursor": page.next_cursor}


@router.get(
    "/v1/runs/{run_id}",
    operation_id="getRun",
    response_model=None,
    responses={200: {"model": RunForCaller}, **errors(401, 404, 422, 503)},
)
async def get_run(run_id: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    """The run, with ``permissions``: what the caller may do with it (so that a dashboard offers
    only those actions; the routes check again)."""
    run = await gateway.access.readable(caller, await gateway.store.get_run(run_id))
    out = await detailed(gateway, run)
    update = await gateway.access.may(caller, "update", run.namespace, run.workflow)
    out["permissions"] = {"get": True, "update": update}
    return out


@router.get(
    "/v1/runs/{run_id}/events",
    response_model=None,
    operation_id="streamRunEvents",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "Server-Sent Events until the run finishes or waits",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(401, 404, 422, 503),
    },
)
async def run_events(
    run_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[int, Query(ge=0, le=MAX_EVENT)] = 0,
) -> EventSourceResponse | Response:
    # 404 before the stream starts, for a missing run and one the caller may not read alike
    await gateway.access.readable(caller, await gateway.store.get_run(run_id))
    if last_event_id is not None:
        number = event_number(last_event_id)
        if number is None:
            message = "expected an event number"
            details = [{"field": "Last-Event-ID", "message": message}]
            return error(422, "invalid_request", f"Last-Event-ID: {message}", details)
        after = number
    return events.response(gateway.store, run_id, after=after)


async def _may_update(gateway: GatewayDep, caller: CallerDep, run_id: str) -> RunRecord | None:
    """The run when the caller may change it; None when they may only read it (403)."""
    run = await gateway.access.readable(caller, await gateway.store.get_run(run_id))
    return run if await gateway.access.may(caller, "update", run.namespace, run.workflow) else None


@router.post(
    "/v1/runs/{run_id}/resume",
    status_code=202,
    response_model=None,
    operation_id="resumeRun",
    responses={202: {"model": RunAccepted}, **errors(401, 403, 404, 409, 422, 503)},
)
async def resume_run(
    run_id: str, body: ResumeRun, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any] | Response:
    if await _may_update(gateway, caller, run_id) is None:
        return forbidden(f"resume run {run_id}")
    run = await gateway.engine.queue_resume(run_id, body.input, by=actor(caller))
    gateway.worker.wake()
    return {"id": run.id, "status": run.status.value}


@router.post(
    "/v1/runs/{run_id}/approve",
    status_code=202,
    response_model=None,
    operation_id="approveRun",
    responses={202: {"model": RunAccepted}, **errors(401, 403, 404, 409, 422, 503)},
)
async def approve_run(
    run_id: str, body: ApprovalInput, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any] | Response:
    """Approve or deny what a run waits for; who did it is recorded on the run."""
    if await _may_update(gateway, caller, run_id) is None:
        return forbidden(f"approve run {run_id}")
    run = await gateway.engine.queue_approval(run_id, body, by=actor(caller))
    gateway.worker.wake()
    return {"id": run.id, "status": run.status.value}


@router.post(
    "/v1/runs/{run_id}/cancel",
    response_model=None,
    operation_id="cancelRun",
    responses={200: {"model": RunAccepted}, **errors(401, 403, 404, 409, 422, 503)},
)
async def cancel_run(
    run_id: str, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any] | Response:
    if await _may_update(gateway, caller, run_id) is None:
        return forbidden(f"cancel run {run_id}")
    run = await gateway.engine.cancel(run_id, by=actor(caller))
    return {"id": run.id, "status": run.status.value}
