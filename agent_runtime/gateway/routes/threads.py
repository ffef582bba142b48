"""The Runs API's threads: conversations whose runs each start from the state the last one left.

A thread belongs to a namespace and is guarded exactly like the runs on it (RBAC on
``workflows/runs``, its workflow's name once its first run bound it, the namespace's otherwise):
``get`` reads it, its history and its runs, ``list`` searches a namespace's, ``create`` makes
one (or a copy), ``update`` changes its metadata or deletes it. A thread the caller may not read
answers 404 exactly like one that does not exist. Runs start on it with ``threadId`` in the body
of ``POST /v1/workflows/{namespace}/{name}/runs``.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field

from agent_runtime.auth import Identity
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.deps import CallerDep, GatewayDep, storable_text
from agent_runtime.gateway.errors import error
from agent_runtime.gateway.openapi import (
    THREAD_LINKS,
    RunPage,
    Thread,
    ThreadForCaller,
    ThreadHistory,
    ThreadPage,
    errors,
)
from agent_runtime.gateway.routes.runs import Body, forbidden, view
from agent_runtime.spec.common import DNS_LABEL
from agent_runtime.stores.errors import InvalidCursor
from agent_runtime.stores.records import ThreadRecord, ThreadStatus

router = APIRouter(tags=["threads"], dependencies=[Depends(storable_text)])

#: A thread id a caller may choose (``~`` and ``/`` are kept for copied histories and cursors).
THREAD_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
ThreadId = Annotated[str, Field(pattern=THREAD_ID)]
Metadata = Annotated[dict[str, Any], Field(max_length=100)]


class CreateThread(Body):
    id: ThreadId | None = None
    namespace: Annotated[str, Field(max_length=63, pattern=DNS_LABEL)] = "default"
    #: Bind it to a workflow at once (else its first run does).
    workflow: Annotated[str, Field(max_length=63, pattern=DNS_LABEL)] | None = None
    metadata: Metadata = Field(default_factory=dict)


class UpdateThread(Body):
    metadata: Metadata


class CopyThread(Body):
    id: ThreadId | None = None


def json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object; None when it is not one, nests too deeply to read, or holds
    what no store keeps (NUL, a lone surrogate: see ``deps.storable_text``)."""
    try:
        value = json.loads(text)
        kept = isinstance(value, dict) and _storable(value)
    except (ValueError, RecursionError):  # a lone surrogate's UnicodeEncodeError is one
        return None
    return value if kept else None


def _storable(value: Any) -> bool:
    if isinstance(value, str):
        value.encode()  # a lone surrogate raises UnicodeEncodeError
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def thread_view(thread: ThreadRecord) -> dict[str, Any]:
    return thread.model_dump(mode="json", by_alias=True)


async def readable(gateway: GatewayDep, caller: Identity, thread_id: str) -> ThreadRecord:
    """The thread, if it exists and the caller may read it (ThreadNotFound otherwise)."""
    return await gateway.access.readable_thread(caller, await gateway.store.get_thread(thread_id))


async def may_change(gateway: GatewayDep, caller: Identity, thread: ThreadRecord) -> bool:
    return await gateway.access.may(caller, "update", thread.namespace, thread.workflow or "")


async def may_create(gateway: GatewayDep, caller: Identity, namespace: str, name: str) -> bool:
    return await gateway.access.may(caller, "create", namespace, name)


@router.post(
    "/v1/threads",
    status_code=201,
    response_model=None,
    operation_id="createThread",
    responses={
        201: {"model": Thread, "description": "Created", "links": THREAD_LINKS},
        **errors(401, 403, 409, 422, 503),
    },
)
async def create_thread(
    body: CreateThread, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any] | Response:
    if not await may_create(gateway, caller, body.namespace, body.workflow or ""):
        return forbidden(f"start runs in namespace {body.namespace}")
    thread = ThreadRecord(
        id=body.id or str(uuid.uuid4()),
        namespace=body.namespace,
        workflow=body.workflow,
        created_by=actor(caller),
        metadata=body.metadata,
    )
    return thread_view(await gateway.store.create_thread(thread))


@router.get(
    "/v1/threads",
    operation_id="searchThreads",
    response_model=None,
    responses={200: {"model": ThreadPage}, **errors(401, 422, 503)},
)
async def search_threads(
    gateway: GatewayDep,
    caller: CallerDep,
    namespace: Annotated[str | None, Query(max_length=63, pattern=DNS_LABEL)] = None,
    metadata: Annotated[
        str | None, Query(max_length=8192, description="A JSON object each thread's contains")
    ] = None,
    status: ThreadStatus | None = None,
    created_by: Annotated[str | None, Query(alias="createdBy", max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any] | Response:
    """Threads newest updated first, in the namespaces whose runs the caller may list."""
    wanted = json_object(metadata) if metadata is not None else {}
    if wanted is None:
        problem = "expected a JSON object of Unicode text"
        details = [{"field": "metadata", "message": problem}]
        return error(422, "invalid_request", f"metadata: {problem}", details)
    candidates = [namespace] if namespace else gateway.known_namespaces()
    namespaces = await gateway.access.listable_namespaces(caller, candidates)
    if namespaces is None and namespace:
        namespaces = [namespace]
    found = await gateway.store.search_threads(
        namespaces=namespaces,
        metadata=wanted,
        status=status,
        created_by=created_by,
        limit=limit,
        offset=offset,
    )
    return {"items": [thread_view(t) for t in found]}


@router.get(
    "/v1/threads/{thread_id}",
    operation_id="getThread",
    response_model=None,
    responses={200: {"model": ThreadForCaller}, **errors(401, 404, 422, 503)},
)
async def get_thread(thread_id: str, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    """The thread with its values (its current state) and what the caller may do with it."""
    thread = await readable(gateway, caller, thread_id)
    out = thread_view(thread)
    out["permissions"] = {"get": True, "update": await may_change(gateway, caller, thread)}
    return out


@router.patch(
    "/v1/threads/{thread_id}",
    operation_id="updateThread",
    response_model=None,
    responses={200: {"model": Thread}, **errors(401, 403, 404, 422, 503)},
)
async def update_thread(
    thread_id: str, body: UpdateThread, gateway: GatewayDep, caller: CallerDep
) -> dict[str, Any] | Response:
    """Merge ``metadata`` into the thread's (a key set to null stays, as null)."""
    thread = await readable(gateway, caller, thread_id)
    if not await may_change(gateway, caller, thread):
        return forbidden(f"change thread {thread_id}")
    return thread_view(await gateway.store.update_thread(thread_id, metadata=body.metadata))


@router.delete(
    "/v1/threads/{thread_id}",
    status_code=204,
    response_model=None,
    operation_id="deleteThread",
    responses={**errors(401, 403, 404, 409, 422, 503)},
)
async def delete_thread(thread_id: str, gateway: GatewayDep, caller: CallerDep) -> Response:
    """Delete the thread with its runs; refused (409) while a run executes on it."""
    thread = await readable(gateway, caller, thread_id)
    if not await may_change(gateway, caller, thread):
        return forbidden(f"delete thread {thread_id}")
    await gateway.store.delete_thread(thread_id)
    return Response(status_code=204)


@router.post(
    "/v1/threads/{thread_id}/copy",
    status_code=201,
    response_model=None,
    operation_id="copyThread",
    responses={
        201: {"model": Thread, "description": "The copy", "links": THREAD_LINKS},
        **errors(401, 403, 404, 409, 422, 503),
    },
)
async def copy_thread(
    thread_id: str, gateway: GatewayDep, caller: CallerDep, body: CopyThread | None = None
) -> dict[str, Any] | Response:
    """A new thread with the same metadata, values and history (copied), made by the caller."""
    thread = await readable(gateway, caller, thread_id)
    if not await may_create(gateway, caller, thread.namespace, thread.workflow or ""):
        return forbidden(f"start runs in namespace {thread.namespace}")
    new_id = (body.id if body else None) or str(uuid.uuid4())
    copy = await gateway.store.copy_thread(thread_id, new_id, created_by=actor(caller))
    return thread_view(copy)


@router.get(
    "/v1/threads/{thread_id}/history",
    operation_id="getThreadHistory",
    response_model=None,
    responses={200: {"model": ThreadHistory}, **errors(400, 401, 404, 422, 503)},
)
async def thread_history(
    thread_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 10,
    before: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any] | Response:
    """The thread's states, newest first: each checkpoint of each of its runs."""
    await readable(gateway, caller, thread_id)
    cursor = None
    if before is not None:
        run_id, _, checkpoint_id = before.rpartition("/")
        cursor = (run_id, checkpoint_id)
    try:
        if cursor is not None and not all(cursor):
            raise InvalidCursor("before: not a cursor this API gave (use nextCursor)")
        states = await gateway.store.thread_history(thread_id, limit=limit + 1, before=cursor)
    except InvalidCursor as exc:
        details = [{"field": "before", "message": str(exc)}]
        return error(400, exc.code, str(exc), details)
    more = len(states) > limit
    states = states[:limit]
    last = states[-1] if more and states else None
    return {
        "items": [s.model_dump(mode="json", by_alias=True) for s in states],
        "nextCursor": f"{last.run_id}/{last.checkpoint_id}" if last else None,
    }


@router.get(
    "/v1/threads/{thread_id}/runs",
    operation_id="listThreadRuns",
    response_model=None,
    responses={200: {"model": RunPage}, **errors(401, 404, 422, 503)},
)
async def thread_runs(
    thread_id: str,
    gateway: GatewayDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """The thread's runs, newest first."""
    await readable(gateway, caller, thread_id)
    runs = await gateway.store.list_thread_runs(thread_id, limit=limit)
    return {"items": [view(r) for r in runs], "nextCursor": None}
