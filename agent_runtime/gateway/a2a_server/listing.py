"""``ListTasks``: an agent's tasks are its Workflow's runs, newest first, read from the store
as ``GET /v1/runs`` reads them (a caller who may not list runs in the namespace sees none), or
a context's (a thread of this agent the caller may read)."""

from __future__ import annotations

from a2a.types import ListTasksRequest, ListTasksResponse

from agent_runtime.gateway.a2a_server.calls import Call
from agent_runtime.gateway.a2a_server.errors import bad_field
from agent_runtime.gateway.a2a_server.tasks import STATES, task_of
from agent_runtime.stores import RunRecord
from agent_runtime.stores.errors import ThreadNotFound

#: The most tasks a page holds (A2A's own bound).
MOST = 100
RUN_STATUS = {state: status for status, state in STATES.items()}


async def list_tasks(call: Call, params: ListTasksRequest) -> ListTasksResponse:
    workflow, store = call.workflow, call.gateway.store
    if params.HasField("page_size") and not 1 <= params.page_size <= MOST:
        raise bad_field("pageSize", f"expected 1 to {MOST}")
    limit = params.page_size if params.HasField("page_size") else 50
    wanted = RUN_STATUS.get(params.status) if params.status else None
    if params.status and wanted is None:  # a state no run is ever in
        return ListTasksResponse(page_size=limit)
    if not await call.gateway.access.may(call.caller, "list", workflow.namespace):
        return ListTasksResponse(page_size=limit)
    runs: list[RunRecord]
    next_token = ""
    if params.context_id:
        try:
            thread = await store.get_thread(params.context_id)
        except ThreadNotFound:
            thread = None
        if thread is None or (thread.namespace, thread.workflow) != (
            workflow.namespace,
            workflow.name,
        ):
            raise bad_field("contextId", "no context of this agent")
        runs = await store.list_thread_runs(thread.id, limit=limit)
        runs = [r for r in runs if wanted is None or r.status == wanted]
    else:
        page = await store.list_runs(
            workflow=f"{workflow.namespace}/{workflow.name}",
            status=wanted,
            namespaces=[workflow.namespace],
            limit=limit,
            cursor=params.page_token or None,
        )
        runs, next_token = page.items, page.next_cursor or ""
    return ListTasksResponse(
        tasks=[task_of(r) for r in runs], next_page_token=next_token, page_size=limit
    )


__all__ = ["list_tasks"]
