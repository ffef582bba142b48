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
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import StreamingResponse

from agent_runtime.auth import Identity
from agent_runtime.engine.channels import initial_state
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.langgraph.assistants import assistant_id, resolve
from agent_runtime.gateway.langgraph.streams import INTERRUPT, Part, Relay, relayed, response
from agent_runtime.gateway.langgraph.wire import RunCreate
from agent_runtime.gateway.launch import Refused, runnable, start_run
from agent_runtime.stores import RunRecord, RunStatus

router = APIRouter(tags=["langgraph"])
#: How often a held ``wait`` request sends a newline.
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


def run_view(run: RunRecord, *, multitask_strategy: str = "reject") -> dict[str, Any]:
    return {
        "run_id": run.id,
        "thread_id": run.thread_id,
        "assistant_id": assistant_id(run.namespace, run.workflow),
        "created_at": run.created_at.isoformat(),
        "updated_at": run.updated_at.isoformat(),
        "status": STATUS[run.status],
        "metadata": {"namespace": run.namespace, "workflow": run.workflow},
        "multitask_strategy": multitask_strategy,
        "kwargs": {"input": run.input},
    }


def relay_of(gateway: Gateway, run: RunRecord, modes: list[str]) -> Relay:
    spec = gateway.engine.workflow_of(run).spec
    return Relay(spec, initial_state(spec, run.input), modes)


async def final_values(gateway: Gateway, run: RunRecord) -> dict[str, Any]:
    """What ``runs.wait`` answers: the state the run ended with (``__interrupt__`` when it
    waits for a person, ``__error__`` when it failed)."""
    relay = relay_of(gateway, run, ["values"])
    last: dict[str, Any] = relay.shown()
    for event in await gateway.store.list_events(run.id):
        for part in relay.parts(event):
            if part.event == "values":
                last = part.data
            elif part.event == "error":
                return {**relay.shown(), "__error__": part.data}
    if run.status == RunStatus.INTERRUPTED and INTERRUPT not in last:
        last = {**last, INTERRUPT: [{"value": run.interrupt, "id": run.id}]}
    return last


async def create(gateway: Gateway, caller: Identity, body: RunCreate) -> RunRecord:
    """A new run of the assistant (stateless: on no thread)."""
    if body.command is not None and body.command.resume is not None:
        raise Refused(
            "invalid_request",
            "command.resume: answers an interrupt on a thread; use /threads/{thread_id}/runs",
            details=[{"field": "command.resume", "message": "needs a thread"}],
        )
    entry = await resolve(gateway, caller, body.assistant_id)
    workflow = await runnable(gateway, caller, entry.namespace, entry.name)
    return await start_run(gateway, caller, workflow, body.input or {})


def streamed(gateway: Gateway, run: RunRecord, body: RunCreate, *, after: int = 0) -> Any:
    relay = relay_of(gateway, run, body.modes())
    first = [Part("metadata", {"run_id": run.id, "thread_id": run.thread_id, "attempt": 1})]
    stream = relayed(gateway.store, relay, run.id, after=after, start=0, first=first)
    return response(stream, headers={"Content-Location": location(run)})


def location(run: RunRecord) -> str:
    if run.thread_id:
        return f"/threads/{run.thread_id}/runs/{run.id}"
    return f"/runs/{run.id}"


@router.post("/runs", operation_id="langgraphCreateRun")
async def create_run(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> dict[str, Any]:
    run = await create(gateway, caller, body)
    return run_view(run)


@router.post("/runs/stream", operation_id="langgraphStreamRun")
async def stream_run(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> Any:
    return streamed(gateway, await create(gateway, caller, body), body)


@router.post("/runs/wait", operation_id="langgraphWaitRun")
async def wait_run(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[RunCreate, Body()]
) -> StreamingResponse:
    return waited(gateway, await create(gateway, caller, body))


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


async def _cancel(gateway: Gateway, caller: Identity, run: RunRecord, wait: bool) -> None:
    from agent_runtime.gateway.access import actor

    if not await gateway.access.may(caller, "update", run.namespace, run.workflow):
        raise Refused("forbidden", f"you may not cancel run {run.id}")
    if not run.status.finished:
        await gateway.engine.cancel(run.id, by=actor(caller))
    if wait:
        async with asyncio.timeout(gateway.settings.wait_timeout):
            await gateway.wait_settled(run.id)
