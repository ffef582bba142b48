"""Runs through the LangGraph API: created, streamed, waited for, joined, listed, cancelled.

A LangGraph run is one of the gateway's runs: the same record, engine, lease and events, started
by ``launch`` like a Runs API run. ``Command(resume=...)`` on a thread answers the human node
its interrupted run waits at: that run goes on (its id stays), where LangGraph would start a new
one from the interrupt's checkpoint.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, get_args

from fastapi import APIRouter, Body, Header, Query, Response
from fastapi.responses import StreamingResponse
from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_runtime.auth import Identity
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.channels import initial_state
from agent_runtime.engine.thread_state import start_state
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.double_texting import its_turn
from agent_runtime.gateway.langgraph import multitask
from agent_runtime.gateway.langgraph.assistants import assistant_id, resolve
from agent_runtime.gateway.langgraph.streams import Part, Relay, relayed, response
from agent_runtime.gateway.langgraph.threads import (
    bound_to,
    create_thread,
    interrupts_of,
    readable,
    waiting_run,
)
from agent_runtime.gateway.langgraph.wire import RunCreate, StreamMode
from agent_runtime.gateway.launch import Refused, invalid, runnable, start_run
from agent_runtime.spec.workflow import HumanNode, WorkflowSpec
from agent_runtime.stores import RunRecord, RunStatus
from agent_runtime.stores.errors import RunNotFound, ThreadConflict, ThreadNotFound

router = APIRouter(tags=["langgraph"])
#: How often a held ``wait`` or ``join`` request sends a newline.
HEARTBEAT_SECONDS = 5.0

#: A run's status as LangGraph names it.
STATUS = {
    RunStatus.QUEUED: "pending",
    RunStatus.RUNNING: "running",
    RunStatus.INTERRUPTED: "interrupted",
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "interrupted",
}


def run_view(run: RunRecord) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "thread_id": run.thread_id,
        "assistant_id": assistant_id(run.namespace, run.workflow),
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "status": STATUS[run.status],
        "metadata": {"namespace": run.namespace, "workflow": run.workflow},
        "multitask_strategy": None,
        "kwargs": {"input": run.input},
    }


async def start_values(gateway: Gateway, run: RunRecord, spec: WorkflowSpec) -> dict[str, Any]:
    """The state a run started from: its input over its thread's values (the thread changes
    only when the run leaves it; after that, the run's first checkpoint says)."""
    if run.thread_id is None:
        return initial_state(spec, run.input)
    thread = await gateway.store.get_thread(run.thread_id)
    if thread.last_run_id != run.id:
        return start_state(spec, run.input, thread.values)
    first = None
    async for saved in gateway.store.checkpointer().alist({"configurable": {"thread_id": run.id}}):
        if saved.metadata.get("step") == 0:
            first = saved
    if first is None:
        return initial_state(spec, run.input)
    return dict(first.checkpoint.get("channel_values", {}))


async def relay_of(gateway: Gateway, run: RunRecord, modes: list[str]) -> Relay:
    spec = gateway.engine.workflow_of(run).spec
    return Relay(spec, await start_values(gateway, run, spec), modes)


async def final_values(gateway: Gateway, run: RunRecord) -> dict[str, Any]:
    """What ``wait`` and ``join`` answer: the state the run ended with (``__interrupt__`` when
    it waits for a person, ``__error__`` when it failed)."""
    relay = await relay_of(gateway, run, ["values"])
    last: dict[str, Any] = relay.shown()
    for event in await gateway.store.list_events(run.id):
        for part in relay.parts(event):
            if part.event == "values":
                last = part.data
            elif part.event == "error":
                return {**relay.shown(), "__error__": part.data}
    if run.status == RunStatus.INTERRUPTED:
        last = {**last, "__interrupt__": interrupts_of(run)}
    return last


def location(run: RunRecord) -> str:
    """Where the run is, relative to the API's root (the SDK resolves it against its base)."""
    if run.thread_id:
        return f"/threads/{run.thread_id}/runs/{run.id}"
    return f"/runs/{run.id}"


async def streamed(
    gateway: Gateway, run: RunRecord, modes: list[str], *, after: int = 0
) -> EventSourceResponse:
    """The run's parts after event ``after``; a client cut off rejoins at ``Location``."""
    first = [Part("metadata", {"run_id": run.id, "thread_id": run.thread_id, "attempt": 1})]

    async def stream() -> AsyncIterator[ServerSentEvent]:
        # a run queued on its thread starts from the state the runs before it leave there
        relay = await relay_of(gateway, await its_turn(gateway.store, run), modes)
        async for sent in relayed(gateway.store, relay, run.id, after=after, start=0, first=first):
            yield sent

    headers = {"Content-Location": location(run)}
    if run.thread_id:
        headers["Location"] = f"{location(run)}/stream"
    return response(stream(), headers=headers)


def waited(gateway: Gateway, run: RunRecord) -> StreamingResponse:
    """The run's final state once it settles, however long that takes: a newline every few
    seconds keeps proxies from cutting a quiet request (JSON allows the whitespace), and a
    client cut off anyway rejoins at ``Location``."""

    async def body() -> AsyncIterator[bytes]:
        waiting = asyncio.ensure_future(gateway.wait_settled(run.id))
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=HEARTBEAT_SECONDS)
                if done:
                    break
                yield b"\n"
            yield json.dumps(await final_values(gateway, waiting.result()), default=str).encode()
        finally:
            waiting.cancel()

    headers = {"Content-Location": location(run)}
    if run.thread_id:
        headers["Location"] = f"{location(run)}/join"
    return StreamingResponse(body(), media_type="application/json", headers=headers)


async def stateless(gateway: Gateway, caller: Identity, body: RunCreate) -> RunRecord:
    """A new run of the assistant on no thread."""
    if body.command is not None and body.command.resume is not None:
        message = "answers an interrupt on a thread; use /threads/{thread_id}/runs"
        raise invalid("command.resume", message)
    entry = await resolve(gateway, caller, body.assistant_id)
    workflow = await runnable(gateway, caller, entry.namespace, entry.name)
    return await start_run(gateway, caller, workflow, body.input or {})


async def on_thread(
    gateway: Gateway, caller: Identity, thread_id: str, body: RunCreate
) -> tuple[RunRecord, int]:
    """A run on the thread (a new one, or its waiting run answered) and the last event before
    this request's part of it."""
    entry = await resolve(gateway, caller, body.assistant_id)
    try:
        thread = await readable(gateway, caller, thread_id)
    except ThreadNotFound:
        if body.if_not_exists != "create":
            raise
        thread = await create_thread(
            gateway, caller, thread_id=thread_id, metadata={}, namespace=entry.namespace
        )
    thread = await bound_to(gateway, caller, thread, entry.namespace)
    if body.command is not None and body.command.resume is not None:
        return await answered(gateway, caller, thread_id, body.command.resume)
    workflow = await runnable(gateway, caller, entry.namespace, entry.name)
    given = body.input or {}
    strategy = body.multitask_strategy
    return await multitask.start(gateway, caller, workflow, given, thread.id, strategy), 0


async def answered(
    gateway: Gateway, caller: Identity, thread_id: str, resume: Any
) -> tuple[RunRecord, int]:
    """``Command(resume=...)``: the thread's waiting run, answered and queued again."""
    thread = await readable(gateway, caller, thread_id)
    run = await waiting_run(gateway, thread)
    if run is None or run.interrupt is None:
        raise ThreadConflict(thread_id, "has no run waiting for an answer")
    if not await gateway.access.may(caller, "update", run.namespace, run.workflow):
        raise Refused("forbidden", f"you may not resume run {run.id}")
    events = await gateway.store.list_events(run.id)
    before = events[-1].seq if events else 0
    if run.interrupt.get("kind") == "approval":
        answer = resume if isinstance(resume, dict) else {"approved": bool(resume)}
        run = await gateway.engine.queue_approval(
            run.id, ApprovalInput.model_validate(answer), by=actor(caller)
        )
    else:
        given = resume if isinstance(resume, dict) else single_field(gateway, run, resume)
        run = await gateway.engine.queue_resume(run.id, given, by=actor(caller))
    gateway.worker.wake()
    return run, before


def single_field(gateway: Gateway, run: RunRecord, value: Any) -> dict[str, Any]:
    """A bare resume value, as the one field the human node asks for."""
    spec = gateway.engine.workflow_of(run).spec
    asked = (run.interrupt or {}).get("node")
    node = next(
        (n for n in spec.nodes if isinstance(n, HumanNode) and n.name == asked),
        None,
    )
    fields = list(node.output) if node is not None else []
    if len(fields) != 1:
        message = f"expected an object with {', '.join(fields) or 'the fields asked for'}"
        raise invalid("command.resume", message, code="invalid_input")
    return {fields[0]: value}


async def thread_run(gateway: Gateway, caller: Identity, thread_id: str, run_id: str) -> RunRecord:
    await readable(gateway, caller, thread_id)
    run = await gateway.store.get_run(run_id)
    if run.thread_id != thread_id:
        raise RunNotFound(run_id)
    return await gateway.access.readable(caller, run)


@router.post("/runs", operation_id="langgraphCreateRun")
async def create_run(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> dict[str, Any]:
    return run_view(await stateless(gateway, caller, body))


@router.post("/runs/stream", operation_id="langgraphStreamRun")
async def stream_run(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> EventSourceResponse:
    return await streamed(gateway, await stateless(gateway, caller, body), body.modes())


@router.post("/runs/wait", operation_id="langgraphWaitRun")
async def wait_run(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> StreamingResponse:
    return waited(gateway, await stateless(gateway, caller, body))


@router.post("/threads/{thread_id}/runs", operation_id="langgraphCreateThreadRun")
async def create_thread_run(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> dict[str, Any]:
    run, _ = await on_thread(gateway, caller, thread_id, body)
    return run_view(run)


@router.post("/threads/{thread_id}/runs/stream", operation_id="langgraphStreamThreadRun")
async def stream_thread_run(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> EventSourceResponse:
    run, before = await on_thread(gateway, caller, thread_id, body)
    return await streamed(gateway, run, body.modes(), after=before)


@router.post("/threads/{thread_id}/runs/wait", operation_id="langgraphWaitThreadRun")
async def wait_thread_run(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> StreamingResponse:
    run, _ = await on_thread(gateway, caller, thread_id, body)
    return waited(gateway, run)


@router.get("/threads/{thread_id}/runs", operation_id="langgraphListThreadRuns")
async def list_thread_runs(
    thread_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
    status: str | None = None,
) -> list[dict[str, Any]]:
    await readable(gateway, caller, thread_id)
    runs = await gateway.store.list_thread_runs(thread_id, limit=limit + offset)
    shown = [run_view(r) for r in runs[offset:]]
    return [r for r in shown if status is None or r["status"] == status]


@router.get("/threads/{thread_id}/runs/{run_id}", operation_id="langgraphGetThreadRun")
async def get_thread_run(
    thread_id: str, run_id: str, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any]:
    return run_view(await thread_run(gateway, caller, thread_id, run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/join", operation_id="langgraphJoinThreadRun")
async def join_thread_run(
    thread_id: str, run_id: str, gateway: GatewayDep, caller: CallerDep
) -> StreamingResponse:
    return waited(gateway, await thread_run(gateway, caller, thread_id, run_id))


@router.get("/threads/{thread_id}/runs/{run_id}/stream", operation_id="langgraphJoinStream")
async def join_stream(
    thread_id: str,
    run_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    """Join a run's stream: what it sends from now on, as LangGraph's server does, or, with
    ``Last-Event-ID``, from just after that event."""
    run = await thread_run(gateway, caller, thread_id, run_id)
    modes = [m for m in stream_mode or [] if m]  # the SDK sends an empty one for "default"
    if unknown := [m for m in modes if m not in get_args(StreamMode)]:
        message = f"unknown stream mode {unknown[0]!r}"
        raise invalid("stream_mode", message)
    if last_event_id and last_event_id.isascii() and last_event_id.isdigit():
        after = int(last_event_id)
    else:
        events = await gateway.store.list_events(run.id)
        after = events[-1].seq if events else 0
    return await streamed(gateway, run, modes or ["values"], after=after)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", operation_id="langgraphCancelRun")
async def cancel_thread_run(
    thread_id: str,
    run_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    wait: bool = False,
    action: multitask.CancelAction = "interrupt",
) -> Response:
    run = await thread_run(gateway, caller, thread_id, run_id)
    await multitask.cancel(gateway, caller, run, action=action, wait=wait)
    return Response(status_code=202 if not wait else 204)
