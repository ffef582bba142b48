"""The records a run store keeps: runs, their steps and events, approvals, spend, threads."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# re-exported: the store's records are where the rest of the code finds them
from agent_runtime.statuses import RunStatus as RunStatus
from agent_runtime.statuses import StepStatus as StepStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class Record(BaseModel):
    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel)


class Actor(Record):
    """Who started, resumed or cancelled a run, as the gateway authenticated them."""

    username: str
    groups: list[str] = Field(default_factory=list)
    #: For a ServiceAccount, its namespace.
    service_account_namespace: str | None = None


class Approval(Record):
    """A person's yes or no to a tool call that waited for it, or to a run at a limit."""

    node: str
    visit: int = 0
    #: ``approval`` (a gated tool call), or the limit reached: ``maxTokens``, ``maxToolCalls``,
    #: ``namespaceBudget``.
    reason: str
    call_id: str | None = None
    tool: str | None = None
    limit: str | None = None
    period: str | None = None
    approved: bool
    comment: str = ""
    by: Actor | None = None
    at: datetime = Field(default_factory=utcnow)


class TriggeredBy(Record):
    """The Trigger that started a run unattended, and for what: a schedule's tick, a webhook's
    delivery or a CloudEvent."""

    namespace: str
    name: str
    #: What fired: ``schedule`` (``tick`` set), ``webhook`` (``delivery``) or ``cloudevent``
    #: (``event_id`` and ``event_source``).
    source: Literal["schedule", "webhook", "cloudevent"] = "schedule"
    #: The schedule's tick the run fired for (UTC).
    tick: datetime | None = None
    #: The webhook delivery's id (``X-GitHub-Delivery``, ``X-Webhook-Id`` ...).
    delivery: str | None = None
    #: A CloudEvent's ``id`` and ``source`` (together unique, by the CloudEvents spec).
    event_id: str | None = None
    event_source: str | None = None


class RunRecord(Record):
    id: str
    namespace: str = "default"
    workflow: str
    generation: int | None = None
    #: Content hash of the exact spec the run started with.
    spec_hash: str
    #: The exact Workflow (apiVersion, kind, metadata, spec) the run started with.
    spec: dict[str, Any] = Field(repr=False)
    status: RunStatus = RunStatus.QUEUED
    input: dict[str, Any] = Field(default_factory=dict)
    output: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    #: While ``interrupted``: what the human node asks, and which fields it needs.
    interrupt: dict[str, Any] | None = None
    #: The answer to the human node, set when a resume is queued for a worker to carry out.
    resume_input: dict[str, Any] | None = None
    idempotency_key: str | None = None
    created_by: Actor | None = None
    #: Who last answered the run's human node, and who cancelled it.
    resumed_by: Actor | None = None
    cancelled_by: Actor | None = None
    #: Every approval given or refused, oldest first.
    approvals: list[Approval] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    #: The thread the run belongs to: it starts from the thread's values and leaves its own.
    thread_id: str | None = None
    #: The W3C ``traceparent`` of whoever started the run: its first execution joins that trace.
    traceparent: str | None = None
    #: The Trigger that started it (None: a caller did).
    triggered_by: TriggeredBy | None = None
    #: While ``queued`` after no agent served or could take a node's task: that capability
    #: (the gateway's queue figures per namespace and capability count the run under it).
    waiting_for: str | None = None


class ChildTask(Record):
    """A task a step's tool call started on another agent (an ``a2a`` tool): where to find it."""

    tool: str
    #: The model's id of the call, for an llm node's calls.
    call_id: str | None = None
    #: The remote agent's base URL, as the tool names it.
    url: str
    task_id: str
    context_id: str | None = None
    #: The remote task's state when the call returned (``completed``, ``input-required``...).
    state: str


class StepRecord(Record):
    """One attempt of one visit of one node."""

    run_id: str
    node: str
    visit: int = 0
    attempt: int = 1
    status: StepStatus = StepStatus.RUNNING
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    #: Tasks the attempt's tool calls started on remote agents (``a2a`` tools).
    child_tasks: list[ChildTask] = Field(default_factory=list)


class RunEvent(Record):
    run_id: str
    seq: int
    type: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=utcnow)


class RunPage(Record):
    items: list[RunRecord]
    next_cursor: str | None = None


class Amount(Record):
    """Tokens and their estimated cost (currency units of the platform's price table)."""

    tokens: int = 0
    cost: float = 0.0


class Spend(Record):
    """A namespace's spend in the UTC day and month of some moment (``RunStore.get_spend``)."""

    day: Amount = Field(default_factory=Amount)
    month: Amount = Field(default_factory=Amount)


class ThreadStatus(StrEnum):
    """LangGraph's thread statuses: ``busy`` while a run on it is active."""

    IDLE = "idle"
    BUSY = "busy"
    INTERRUPTED = "interrupted"
    ERROR = "error"


class ThreadRecord(Record):
    """A conversation: runs one after another, each starting from the state the last left."""

    id: str
    namespace: str = "default"
    #: The workflow its runs use; None until its first run.
    workflow: str | None = None
    created_by: Actor | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    status: ThreadStatus = ThreadStatus.IDLE
    #: The state its last run ended with (or stopped interrupted with): its current state.
    values: dict[str, Any] = Field(default_factory=dict)
    last_run_id: str | None = None
    #: The run holding the thread (running, queued, or interrupted and waiting for an answer);
    #: no other run starts on it meanwhile.
    active_run_id: str | None = None
    #: Runs waiting their turn on it (``enqueue``), first first: each starts when the one before
    #: it lets the thread go.
    queue: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ThreadState(Record):
    """One step of a thread's history: the state a checkpoint of one of its runs holds."""

    run_id: str
    checkpoint_id: str
    #: The checkpoint before it in the same run (None: the run's first).
    parent_checkpoint_id: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    #: The nodes that run next from it (empty: the run ended there).
    next: list[str] = Field(default_factory=list)
    #: LangGraph's step number within its run (-1: the input).
    step: int = -1
    created_at: datetime | None = None
