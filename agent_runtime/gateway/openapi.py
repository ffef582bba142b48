"""What the OpenAPI document says the Runs API answers: response bodies, error statuses, links.

The routes build their JSON themselves; these models only describe it, so that clients (and the
schemathesis fuzz test, tests/gateway/test_api_fuzz.py) can hold every answer to the document.
The run models are derived from the store's records, so a field added there is documented here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from agent_runtime.engine.budgets import BudgetStatus
from agent_runtime.stores import RunStatus
from agent_runtime.stores.records import RunRecord, StepRecord, ThreadRecord, ThreadState


class Document(BaseModel):
    """A documented body: camelCase keys; a field with a default is still always sent."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: run_not_found, conflict, ...")
    message: str
    details: Any = Field(default=None, description="For 422: the fields and what is wrong")


class ErrorBody(BaseModel):
    """Every error: never a stack trace."""

    error: ErrorDetail


def _derived(name: str, record: type[BaseModel], drop: set[str]) -> type[Document]:
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in record.model_fields.items() if key not in drop
    }
    model: type[Document] = create_model(name, __base__=Document, **fields)
    return model


#: A run as lists show it (no spec, no pending resume input).
Run = _derived("Run", RunRecord, {"spec", "resume_input"})
Step = _derived("Step", StepRecord, {"run_id"})


class RunDetail(Run):  # type: ignore[misc,valid-type]
    """A run with its steps (one node attempt each)."""

    steps: list[Step]  # type: ignore[valid-type]


class Permissions(Document):
    get: bool
    update: bool = Field(description="Whether the caller may resume, approve or cancel it")


class RunForCaller(RunDetail):
    """A run with its steps and what the caller may do with it."""

    permissions: Permissions


class RunAccepted(Document):
    id: str
    status: RunStatus


class RunPage(Document):
    items: list[Run]  # type: ignore[valid-type]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null: last")


Thread = _derived("Thread", ThreadRecord, set())
HistoryEntry = _derived("HistoryEntry", ThreadState, set())


class ThreadForCaller(Thread):  # type: ignore[misc,valid-type]
    """A thread with what the caller may do with it."""

    permissions: Permissions


class ThreadPage(Document):
    items: list[Thread]  # type: ignore[valid-type]


class ThreadHistory(Document):
    """States newest first, one a checkpoint of one of the thread's runs."""

    items: list[HistoryEntry]  # type: ignore[valid-type]
    next_cursor: str | None = Field(description="Pass as before for older states; null: none")


class WorkflowEntry(BaseModel):
    """A served Workflow; the fields after ``conditions`` are present when its spec is valid."""

    model_config = ConfigDict(populate_by_name=True)
    namespace: str
    name: str
    source: str
    conditions: list[dict[str, Any]]
    description: str | None = None
    input: dict[str, Any] | None = None
    output: list[str] | None = None
    status: dict[str, Any] | None = None
    graph: str | None = None
    capabilities: list[str] | None = None
    state: dict[str, Any] | None = None


class WorkflowList(Document):
    items: list[WorkflowEntry]


class TriggerRunRef(Document):
    run_id: str


class TriggerStatusBody(Document):
    """As a CronJob's: the newest tick fired, when a run last succeeded, the active runs."""

    last_schedule_time: str | None = Field(description="RFC 3339, UTC")
    last_successful_time: str | None = Field(description="RFC 3339, UTC")
    active: list[TriggerRunRef]
    conditions: list[dict[str, Any]]


class TriggerEntry(Document):
    """A served Trigger: its spec as written (camelCase) and its status."""

    namespace: str
    name: str
    workflow: str
    suspend: bool
    spec: dict[str, Any]
    status: TriggerStatusBody


class TriggerList(Document):
    items: list[TriggerEntry]


class CapabilityFigures(BaseModel):
    queued: int = Field(description="Runs waiting for an agent of the capability")
    running: int = Field(description="Runs executing a Workflow that uses the capability")


class QueueFigures(BaseModel):
    """A namespace's work for some capabilities: what AgentPools on the queue metric scale on."""

    namespace: str
    capabilities: dict[str, CapabilityFigures]
    queued: int
    running: int
    total: int = Field(description="queued + running: KEDA's metrics-api trigger reads it")
    truncated: bool = Field(description="The count stopped at its bound (10000 runs a status)")


class BudgetList(Document):
    configured: bool
    on_exceeded: str
    items: list[BudgetStatus]


class Health(Document):
    status: str


class Readiness(BaseModel):
    status: str
    authentication: str | None = Field(default=None, description="Set when it is disabled")


DESCRIPTIONS = {
    400: "A value the store cannot use (a cursor no listing gave)",
    401: "No or an invalid bearer token",
    403: "Not allowed (RBAC), or a write from another site's page",
    404: "No such run or workflow, or one the caller may not read",
    409: "The run or workflow is not in a state for this",
    422: "A field of the request is invalid; details name it",
    429: "A rate limit or the namespace's cap of runs in flight (Retry-After)",
    503: "The run store or the authenticator does not answer",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route, each with the error body."""
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS[code]} for code in codes}


def _link(operation: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation,
        "parameters": {"run_id": "$response.body#/id"},
        "description": description,
    }


def _thread_link(operation: str, description: str) -> dict[str, Any]:
    return {
        "operationId": operation,
        "parameters": {"thread_id": "$response.body#/id"},
        "description": description,
    }


#: From a created thread to what can be done with it.
THREAD_LINKS = {
    "GetThread": _thread_link("getThread", "The thread"),
    "UpdateThread": _thread_link("updateThread", "Merge into its metadata"),
    "ThreadHistory": _thread_link("getThreadHistory", "Its states, newest first"),
    "ThreadRuns": _thread_link("listThreadRuns", "Its runs, newest first"),
    "CopyThread": _thread_link("copyThread", "Copy it"),
    "DeleteThread": _thread_link("deleteThread", "Delete it with its runs"),
}

#: From a created run to what can be done with it (OpenAPI links; stateful tests follow them).
RUN_LINKS = {
    "GetRun": _link("getRun", "The run"),
    "StreamRunEvents": _link("streamRunEvents", "Its events"),
    "ResumeRun": _link("resumeRun", "Answer its human node"),
    "ApproveRun": _link("approveRun", "Approve or deny what it waits for"),
    "CancelRun": _link("cancelRun", "Cancel it"),
}
