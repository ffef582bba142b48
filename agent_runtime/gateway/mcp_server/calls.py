"""``tools/list`` and ``tools/call``: a call of a Workflow's tool starts a run through
``launch.runnable`` and ``launch.start_run`` (RBAC, readiness and admission as the Runs API) and
waits for it; ``resume_run`` answers a run that waits for a person and waits again."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request

from agent_runtime.auth import Identity
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import Refused, runnable, start_run
from agent_runtime.gateway.mcp_server import asking
from agent_runtime.gateway.mcp_server.errors import (
    bad_arguments,
    mcp_errors,
    problems,
    storable,
    unknown_tool,
)
from agent_runtime.gateway.mcp_server.tools import RESUME, listed, workflow_of
from agent_runtime.gateway.mcp_server.transport import (
    Caller,
    caller_of,
    gateway_of,
    sessions_of,
)
from agent_runtime.gateway.mcp_server.waiting import (
    Progress,
    interrupted,
    last_seq,
    outcome,
    stop,
    until_settled,
)
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunNotFound, RunRecord, RunStatus

Ctx = ServerRequestContext[Any, Any]
Answer = types.CallToolResult | types.InputRequiredResult


class ResumeArguments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    input: dict[str, Any]


def _request(ctx: Ctx) -> Request:
    request = ctx.request
    assert isinstance(request, Request), "the gateway serves MCP over HTTP only"
    return request


def _reach(ctx: Ctx) -> tuple[Gateway, Caller]:
    request = _request(ctx)
    return gateway_of(request), caller_of(request)


async def list_tools(ctx: Ctx, _: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    gateway, caller = _reach(ctx)
    with mcp_errors():
        return types.ListToolsResult(tools=await listed(gateway, caller.identity))


async def call_tool(ctx: Ctx, params: types.CallToolRequestParams) -> Answer:
    gateway, caller = _reach(ctx)
    identity = caller.identity
    with mcp_errors():
        storable(params.model_dump(mode="json", by_alias=True, exclude_none=True))
        if params.name == RESUME:
            run, after = await _resume(gateway, identity, params.arguments or {})
        elif params.request_state is None:
            workflow = await _workflow(gateway, identity, params.name)
            run = await start_run(gateway, identity, workflow, params.arguments or {})
            after = 0
        else:
            workflow = await _workflow(gateway, identity, params.name)
            retried = await _retry(gateway, identity, workflow, params)
            if isinstance(retried, types.CallToolResult):
                return retried
            run, after = retried
    return await _wait(ctx, gateway, caller, run, after)


async def _workflow(gateway: Gateway, caller: Identity, tool: str) -> Workflow:
    """The Workflow of a tool the caller may call; another tenant's is as unknown as none."""
    where = workflow_of(tool)
    if where is None:
        raise unknown_tool(tool)
    try:
        return await runnable(gateway, caller, *where)
    except Refused as refused:
        if refused.code == "workflow_not_found":
            raise unknown_tool(tool) from None
        raise


async def _retry(
    gateway: Gateway, caller: Identity, workflow: Workflow, params: types.CallToolRequestParams
) -> tuple[RunRecord, int] | types.CallToolResult:
    """A call again with the answer to what it elicited (2026-07-28): the run its
    ``requestState`` names (one of this tool's, that the caller may read), resumed with the
    answer; the interrupt again when the person declined."""
    assert params.request_state is not None
    try:
        found = await gateway.store.get_run(params.request_state)
        run = await gateway.access.readable(caller, found)
    except RunNotFound:
        run = None
    if run is None or (run.namespace, run.workflow) != (workflow.namespace, workflow.name):
        raise bad_arguments([{"field": "requestState", "message": "names no run of this tool"}])
    answer = (params.input_responses or {}).get(asking.ANSWER)
    if not isinstance(answer, types.ElicitResult) or run.status != RunStatus.INTERRUPTED:
        return run, await last_seq(gateway, run.id)  # answered meanwhile: wait for it
    given = asking.accepted(answer, run)
    if given is None:
        return interrupted(run)
    return run, await asking.answer_run(gateway, caller, run, given, prefix="")


async def _resume(
    gateway: Gateway, caller: Identity, arguments: dict[str, Any]
) -> tuple[RunRecord, int]:
    try:
        given = ResumeArguments.model_validate(arguments)
    except ValidationError as exc:
        raise bad_arguments(problems(exc), prefix="") from None
    try:
        run = await gateway.access.readable(caller, await gateway.store.get_run(given.run_id))
    except RunNotFound:
        raise bad_arguments([{"field": "run_id", "message": "no such run"}]) from None
    return run, await asking.answer_run(gateway, caller, run, given.input, prefix="input.")


async def _wait(ctx: Ctx, gateway: Gateway, caller: Caller, run: RunRecord, after: int) -> Answer:
    """Until the run finishes, eliciting each human node it stops at where the client can
    answer; a cancelled call cancels the run (not one cut short by the gateway stopping)."""
    progress = Progress(ctx)
    try:
        with mcp_errors():
            while True:
                after = await until_settled(gateway, run.id, after, progress)
                run = await gateway.store.get_run(run.id)
                if run.status.finished:
                    return outcome(run)
                if run.status != RunStatus.INTERRUPTED:
                    continue  # answered meanwhile: it goes on
                request = asking.form(run) if asking.can_elicit(ctx) else None
                if request is None or not await asking.may_answer(gateway, caller.identity, run):
                    return interrupted(run)
                if asking.modern(ctx):
                    return types.InputRequiredResult(
                        input_requests={asking.ANSWER: request}, request_state=run.id
                    )
                given = asking.accepted(await asking.ask(ctx, request), run)
                if given is None:
                    return interrupted(run)
                after = await asking.answer_run(gateway, caller.identity, run, given, prefix="")
    except anyio.get_cancelled_exc_class():
        # 2026-07-28: the client closed the call's stream (else the gateway cut it off);
        # the session protocol: notifications/cancelled (else the gateway is stopping)
        if asking.modern(ctx):
            by_client = caller.left
        else:
            by_client = not sessions_of(_request(ctx).app).closing
        if by_client:
            with anyio.CancelScope(shield=True):
                await stop(gateway, caller.identity, run.id)
        raise
