"""Threads through the LangGraph API: the Runs API's threads (same records, same RBAC), shown as
LangGraph shows them.

LangGraph threads have no namespace: one made here goes in ``metadata.namespace`` (default
``default``), and a thread nobody has run on yet moves to the namespace of the first assistant
run on it. A thread's state is its values while no run executes on it, and the newest
checkpoint of the run executing on it otherwise; checkpoint ids are ``RUN~CHECKPOINT``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from agent_runtime.auth import Identity
from agent_runtime.engine.channels import reducer
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.langgraph.messages import for_clients, message_fields
from agent_runtime.gateway.langgraph.streams import declared, interrupt_id
from agent_runtime.gateway.langgraph.wire import (
    HistoryQuery,
    StateUpdate,
    ThreadCreate,
    ThreadPatch,
    ThreadSearch,
)
from agent_runtime.gateway.launch import Refused, invalid
from agent_runtime.spec.workflow import WorkflowSpec
from agent_runtime.stores import RunRecord
from agent_runtime.stores.errors import ThreadConflict, ThreadNotFound
from agent_runtime.stores.records import ThreadRecord, ThreadState, ThreadStatus

router = APIRouter(tags=["langgraph"])
#: How far back ``/state/{checkpoint_id}`` looks for a checkpoint.
HISTORY_SEARCHED = 1000


def spec_of(gateway: Gateway, thread: ThreadRecord) -> WorkflowSpec | None:
    """The Workflow a thread's runs use, when it is bound to one this gateway serves."""
    if thread.workflow is None:
        return None
    entry = gateway.catalog.get(thread.namespace, thread.workflow)
    return entry.workflow.spec if entry is not None and entry.workflow is not None else None


def interrupts_of(run: RunRecord) -> list[dict[str, Any]]:
    if run.interrupt is None:
        return []
    return [{"value": run.interrupt, "id": interrupt_id(run.id, run.interrupt)}]


async def waiting_run(gateway: Gateway, thread: ThreadRecord) -> RunRecord | None:
    """The run holding the thread while it waits at a human node."""
    if thread.status != ThreadStatus.INTERRUPTED or thread.active_run_id is None:
        return None
    return await gateway.store.get_run(thread.active_run_id)


async def thread_view(gateway: Gateway, thread: ThreadRecord) -> dict[str, Any]:
    spec = spec_of(gateway, thread)
    fields = message_fields(spec) if spec is not None else frozenset()
    waiting = await waiting_run(gateway, thread)
    return {
        "thread_id": thread.id,
        "created_at": thread.created_at.isoformat(),
        "updated_at": thread.updated_at.isoformat(),
        "metadata": {**thread.metadata, "namespace": thread.namespace},
        "status": thread.status.value,
        "values": for_clients(fields, thread.values) if thread.values else None,
        "interrupts": {waiting.id: interrupts_of(waiting)} if waiting else {},
        "config": {},
    }


async def readable(gateway: Gateway, caller: Identity, thread_id: str) -> ThreadRecord:
    return await gateway.access.readable_thread(caller, await gateway.store.get_thread(thread_id))


async def changeable(gateway: Gateway, caller: Identity, thread_id: str) -> ThreadRecord:
    thread = await readable(gateway, caller, thread_id)
    if not await gateway.access.may(caller, "update", thread.namespace, thread.workflow or ""):
        raise Refused("forbidden", f"you may not change thread {thread_id}")
    return thread


async def create_thread(
    gateway: Gateway,
    caller: Identity,
    *,
    thread_id: str | None,
    metadata: dict[str, Any],
    namespace: str,
) -> ThreadRecord:
    if not await gateway.access.may(caller, "create", namespace):
        raise Refused("forbidden", f"you may not start runs in namespace {namespace}")
    thread = ThreadRecord(
        id=thread_id or str(uuid.uuid4()),
        namespace=namespace,
        metadata={k: v for k, v in metadata.items() if k != "namespace"},
        created_by=actor(caller),
    )
    return await gateway.store.create_thread(thread)


async def bound_to(
    gateway: Gateway, caller: Identity, thread: ThreadRecord, namespace: str
) -> ThreadRecord:
    """The thread, moved to ``namespace`` if nothing has run on it yet (a LangGraph client
    makes threads before it names an assistant)."""
    if thread.namespace == namespace:
        return thread
    unused = thread.last_run_id is None and thread.active_run_id is None and not thread.values
    if not unused or thread.workflow is not None:
        raise ThreadNotFound(thread.id)  # threads are found within their namespace
    await changeable(gateway, caller, thread.id)
    await gateway.store.delete_thread(thread.id)
    return await create_thread(
        gateway, caller, thread_id=thread.id, metadata=thread.metadata, namespace=namespace
    )


def checkpoint_ref(thread_id: str, state: ThreadState | None) -> dict[str, Any]:
    return {
        "thread_id": thread_id,
        "checkpoint_ns": "",
        "checkpoint_id": f"{state.run_id}~{state.checkpoint_id}" if state else None,
        "checkpoint_map": None,
    }


def parse_checkpoint(given: Any) -> tuple[str, str] | None:
    """``(run, checkpoint)`` of a LangGraph checkpoint id or config (``before`` of a history)."""
    if isinstance(given, dict):
        given = (given.get("configurable") or given).get("checkpoint_id")
    if not isinstance(given, str) or "~" not in given:
        return None
    run_id, _, checkpoint_id = given.rpartition("~")
    return run_id, checkpoint_id


async def state_view(
    gateway: Gateway, thread: ThreadRecord, state: ThreadState | None, *, current: bool
) -> dict[str, Any]:
    """A ThreadState as LangGraph shows it; ``current``: the thread's state now (its values,
    and what its waiting run asks for)."""
    spec = spec_of(gateway, thread)
    fields = message_fields(spec) if spec is not None else frozenset()
    values = thread.values if current and state is None else (state.values if state else {})
    waiting = await waiting_run(gateway, thread) if current else None
    interrupts = interrupts_of(waiting) if waiting else []
    nxt = list(state.next) if state is not None else []
    tasks = []
    if waiting is not None and waiting.interrupt is not None:
        node = str(waiting.interrupt.get("node", ""))
        nxt = [node]
        tasks = [
            {
                "id": interrupts[0]["id"],
                "name": node,
                "error": None,
                "interrupts": interrupts,
                "checkpoint": None,
                "state": None,
                "result": None,
            }
        ]
    return {
        "values": for_clients(fields, declared(spec, values) if spec else values),
        "next": nxt,
        "checkpoint": checkpoint_ref(thread.id, state),
        "metadata": {"run_id": state.run_id, "step": state.step} if state else {},
        "created_at": (state.created_at or thread.updated_at).isoformat()
        if state
        else thread.updated_at.isoformat(),
        "parent_checkpoint": None
        if state is None or state.parent_checkpoint_id is None
        else checkpoint_ref(
            thread.id,
            state.model_copy(update={"checkpoint_id": state.parent_checkpoint_id}),
        ),
        "tasks": tasks,
        "interrupts": interrupts,
    }


async def current_state(gateway: Gateway, thread: ThreadRecord) -> dict[str, Any]:
    """The values while no run executes on the thread; the executing run's newest checkpoint
    otherwise. One checkpoint read, however long the thread."""
    newest = await gateway.store.thread_history(thread.id, limit=1)
    state = newest[0] if newest else None
    if thread.status != ThreadStatus.BUSY and state is not None:
        state = state.model_copy(update={"values": thread.values})
    return await state_view(gateway, thread, state, current=True)


@router.post("/threads", operation_id="langgraphCreateThread")
async def create(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[ThreadCreate, Body()]
) -> dict[str, Any]:
    namespace = str(body.metadata.get("namespace") or "default")
    try:
        thread = await create_thread(
            gateway, caller, thread_id=body.thread_id, metadata=body.metadata, namespace=namespace
        )
    except ThreadConflict:
        if body.if_exists != "do_nothing" or body.thread_id is None:
            raise
        thread = await readable(gateway, caller, body.thread_id)
    return await thread_view(gateway, thread)


@router.post("/threads/search", operation_id="langgraphSearchThreads")
async def search(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[ThreadSearch, Body()]
) -> list[dict[str, Any]]:
    metadata = dict(body.metadata or {})
    wanted = metadata.pop("namespace", None)
    candidates = [str(wanted)] if wanted else gateway.known_namespaces()
    namespaces = await gateway.access.listable_namespaces(caller, candidates)
    if namespaces is None and wanted:
        namespaces = [str(wanted)]
    found = await gateway.store.search_threads(
        namespaces=namespaces,
        metadata=metadata,
        status=ThreadStatus(body.status) if body.status else None,
        limit=body.limit,
        offset=body.offset,
    )
    if body.ids is not None:
        found = [t for t in found if t.id in body.ids]
    return [await thread_view(gateway, t) for t in found]


@router.post("/threads/count", operation_id="langgraphCountThreads")
async def count(
    gateway: GatewayDep, caller: CallerDep, body: Annotated[ThreadSearch, Body()]
) -> int:
    page = body.model_copy(update={"limit": 1000, "offset": 0})
    return len(await search(gateway, caller, page))


@router.get("/threads/{thread_id}", operation_id="langgraphGetThread")
async def get(thread_id: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    return await thread_view(gateway, await readable(gateway, caller, thread_id))


@router.patch("/threads/{thread_id}", operation_id="langgraphPatchThread")
async def patch(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: Annotated[ThreadPatch, Body()]
) -> dict[str, Any]:
    await changeable(gateway, caller, thread_id)
    metadata = {k: v for k, v in body.metadata.items() if k != "namespace"}
    thread = await gateway.store.update_thread(thread_id, metadata=metadata)
    return await thread_view(gateway, thread)


@router.delete("/threads/{thread_id}", status_code=204, operation_id="langgraphDeleteThread")
async def delete(thread_id: str, gateway: GatewayDep, caller: CallerDep) -> Response:
    await changeable(gateway, caller, thread_id)
    await gateway.store.delete_thread(thread_id)
    return Response(status_code=204)


@router.post("/threads/{thread_id}/copy", operation_id="langgraphCopyThread")
async def copy(thread_id: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    thread = await readable(gateway, caller, thread_id)
    if not await gateway.access.may(caller, "create", thread.namespace, thread.workflow or ""):
        raise Refused("forbidden", f"you may not start runs in namespace {thread.namespace}")
    copied = await gateway.store.copy_thread(thread_id, str(uuid.uuid4()), created_by=actor(caller))
    return await thread_view(gateway, copied)


@router.get("/threads/{thread_id}/state", operation_id="langgraphThreadState")
async def get_state(thread_id: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    return await current_state(gateway, await readable(gateway, caller, thread_id))


async def _at(gateway: Gateway, thread: ThreadRecord, checkpoint: Any) -> dict[str, Any]:
    """The state at one checkpoint of the thread's history (the newest 1,000 are searched)."""
    wanted = parse_checkpoint(checkpoint)
    if isinstance(checkpoint, dict) and not (checkpoint.get("configurable") or checkpoint).get(
        "checkpoint_id"
    ):
        return await current_state(gateway, thread)  # RemoteGraph's "the newest"
    if wanted is not None:
        for state in await gateway.store.thread_history(thread.id, limit=HISTORY_SEARCHED):
            if (state.run_id, state.checkpoint_id) == wanted:
                return await state_view(gateway, thread, state, current=False)
    raise Refused("not_found", f"no checkpoint {checkpoint!r} on thread {thread.id}")


@router.get("/threads/{thread_id}/state/{checkpoint_id}", operation_id="langgraphThreadStateAt")
async def get_state_at(
    thread_id: str, checkpoint_id: str, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any]:
    return await _at(gateway, await readable(gateway, caller, thread_id), checkpoint_id)


@router.post("/threads/{thread_id}/state/checkpoint", operation_id="langgraphThreadStateOf")
async def post_state_at(
    thread_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    return await _at(gateway, await readable(gateway, caller, thread_id), body.get("checkpoint"))


@router.post("/threads/{thread_id}/state", operation_id="langgraphUpdateThreadState")
async def update_state(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: Annotated[StateUpdate, Body()]
) -> dict[str, Any]:
    """New values for an idle thread, folded in by the fields' reducers as if a node wrote them
    (its next run starts from them)."""
    thread = await changeable(gateway, caller, thread_id)
    if thread.active_run_id is not None:
        raise ThreadConflict(
            thread.id,
            f"has run {thread.active_run_id!r} on it; update its state when it is done",
            active_run=thread.active_run_id,
        )
    if not isinstance(body.values, dict):
        raise invalid("values", "expected an object of state fields")
    spec = spec_of(gateway, thread)
    values = dict(thread.values)
    for name, value in body.values.items():
        field = spec.state.get(name) if spec is not None else None
        if spec is not None and field is None:
            raise invalid(f"values.{name}", f"not a state field of {thread.workflow}")
        fold = reducer(field) if field is not None and name in values else None
        values[name] = fold(values[name], value) if fold else value
    await gateway.store.update_thread(thread_id, values=values)
    newest = await gateway.store.thread_history(thread_id, limit=1)
    return {"checkpoint": checkpoint_ref(thread_id, newest[0] if newest else None)}


async def _history(
    gateway: Gateway, caller: Identity, thread_id: str, query: HistoryQuery
) -> list[dict[str, Any]]:
    thread = await readable(gateway, caller, thread_id)
    states = await gateway.store.thread_history(
        thread_id, limit=query.limit, before=parse_checkpoint(query.before)
    )
    return [await state_view(gateway, thread, s, current=False) for s in states]


@router.post("/threads/{thread_id}/history", operation_id="langgraphThreadHistory")
async def post_history(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: Annotated[HistoryQuery, Body()]
) -> list[dict[str, Any]]:
    return await _history(gateway, caller, thread_id, body)


@router.get("/threads/{thread_id}/history", operation_id="langgraphThreadHistoryGet")
async def get_history(
    thread_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
) -> list[dict[str, Any]]:
    return await _history(gateway, caller, thread_id, HistoryQuery(limit=limit))
