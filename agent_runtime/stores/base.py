"""The run-store interface and its record types; every backend passes one conformance suite."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

if TYPE_CHECKING:  # the operator image imports these records without LangGraph installed
    from langgraph.checkpoint.base import BaseCheckpointSaver


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    SKIPPED = "skipped"
    #: The attempt stopped before its model's tool calls (an approval, a limit, the engine's
    #: own calls); the node goes on as its next attempt.
    PAUSED = "paused"


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


class StoreError(RuntimeError):
    """The store failed or cannot be reached; the message is safe to show (no credentials)."""


class InvalidCursor(StoreError, ValueError):
    """A listing's ``cursor`` is not one a listing gave: the caller's mistake, not the store's."""


class RunNotFound(StoreError, KeyError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidTransition(StoreError):
    def __init__(self, run_id: str, current: RunStatus, wanted: RunStatus) -> None:
        super().__init__(f"run {run_id!r} is {current.value}; it cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


#: For each status, the statuses a run may move to it from.
TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    # back to the queue: waiting for agents, answered at a human node, or retried after a failure
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.FAILED}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED, RunStatus.FAILED}
    ),
    RunStatus.INTERRUPTED: frozenset({RunStatus.RUNNING}),
    RunStatus.SUCCEEDED: frozenset({RunStatus.RUNNING}),
    RunStatus.FAILED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING}),
    RunStatus.CANCELLED: frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.INTERRUPTED}),
}


class RunStore(ABC):
    """Async run store. Use as ``async with open_store(url) as store``."""

    url: str

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @abstractmethod
    async def open(self) -> None:
        """Connect and apply schema migrations."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """The LangGraph checkpointer writing to the same backend."""

    @abstractmethod
    async def create_run(self, run: RunRecord) -> RunRecord:
        """Insert a run; with an idempotency key already used for the workflow, return that run."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord: ...

    @abstractmethod
    async def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: RunStatus | None = None,
        namespaces: Sequence[str] | None = None,
        created_by: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> RunPage:
        """Runs newest first; ``cursor`` is the ``next_cursor`` of the previous page.

        ``namespaces``: only runs in these (None: every namespace; empty: none), for callers
        who may read some namespaces only. ``created_by``: only runs this username started (a
        page may then hold fewer than ``limit`` runs while ``next_cursor`` says there are more).
        """

    async def count_runs(self, status: RunStatus) -> int:
        """How many runs have ``status`` (the gateway's queue depth); backends count in place."""
        total, cursor = 0, None
        while True:
            page = await self.list_runs(status=status, limit=500, cursor=cursor)
            total += len(page.items)
            if not (cursor := page.next_cursor):
                return total

    @abstractmethod
    async def transition(self, run_id: str, status: RunStatus, **changes: Any) -> RunRecord:
        """Move a run to ``status`` (checked against TRANSITIONS) and set other fields at once."""

    @abstractmethod
    async def record_step(
        self, step: StepRecord, *, event: tuple[str, dict[str, Any]] | None = None
    ) -> RunEvent | None:
        """Insert or update the step keyed by (run, node, visit, attempt).

        With ``event`` (kind, data), append that event in the same transaction and return it:
        a step and its event cost one write, not two.
        """

    #: Whether ``claim_run`` can cap a namespace's runs in flight (``max_per_namespace``).
    caps_namespaces: bool = True

    #: Whether ``defer_step`` takes steps (to write them with the next checkpoint commit).
    defers_steps: bool = False

    def defer_step(
        self, run_id: str, step: StepRecord | None, event: tuple[str, dict[str, Any]]
    ) -> RunEvent:
        """Hand over a step (or just an event) of a node that has finished, to be written in the
        same transaction as that node's checkpoint writes; returns the event, not yet numbered.

        Only for stores whose ``defers_steps`` is true; the engine records steps itself otherwise.
        """
        raise NotImplementedError(f"{type(self).__name__} writes steps at once")

    async def flush_steps(self, run_id: str) -> None:
        """Write whatever ``defer_step`` still holds for a run."""

    async def is_cancelled(self, run_id: str) -> bool:
        """Whether a run has been cancelled; stores may answer from their last write's read."""
        return (await self.get_run(run_id)).status == RunStatus.CANCELLED

    async def transition_and_emit(
        self, run_id: str, status: RunStatus, kind: str, data: dict[str, Any], **changes: Any
    ) -> tuple[RunRecord, RunEvent]:
        """``transition`` and ``append_event``; stores may do both in one transaction."""
        run = await self.transition(run_id, status, **changes)
        return run, await self.append_event(run_id, kind, data)

    @abstractmethod
    async def list_steps(self, run_id: str) -> list[StepRecord]: ...

    @abstractmethod
    async def append_event(
        self,
        run_id: str,
        kind: str,
        data: dict[str, Any],
    ) -> RunEvent: ...

    @abstractmethod
    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]: ...

    @abstractmethod
    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        """Take the lease of the oldest queued run, or of a running one whose lease expired.

        ``max_per_namespace`` (0: no cap): pass over namespaces that already hold that many
        leases, across every replica sharing the store, so their runs wait queued.
        """

    async def take_token(self, key: str, *, rate: float, burst: int) -> float:
        """Rate limiting shared by every replica (GCRA): take one of ``key``'s tokens.

        Tokens come back at ``rate`` per second up to ``burst``. Returns 0.0 when one was taken,
        else how many seconds until one will be (nothing is taken then).
        """
        raise StoreError(f"the {type(self).__name__} does not keep rate limits")

    @abstractmethod
    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        """Extend a lease this owner holds; False when it lost it."""

    @abstractmethod
    async def release_lease(self, run_id: str, *, owner: str) -> None: ...

    def is_transient(self, exc: BaseException) -> bool:
        """Whether an error is the store's passing trouble (a restart, a lost connection).

        The engine then leaves the run to be resumed from its last checkpoint instead of failing
        it. Backends add their driver's connection errors.
        """
        return isinstance(exc, StoreError)

    @abstractmethod
    async def delete_runs(self, *, finished_before: datetime) -> int:
        """Remove finished runs (and their steps, events and checkpoints); returns how many."""

    async def prune(self, older_than: timedelta) -> int:
        """Remove runs that finished (succeeded, failed, cancelled) more than ``older_than`` ago,
        with their steps, events and checkpoints; returns how many (``runs prune``)."""
        return await self.delete_runs(finished_before=utcnow() - older_than)

    async def init(self) -> list[str]:
        """Create what the store needs (``store init``); one line per thing done.

        Local and SQL stores create their schema whenever they open; cloud stores create their
        resources only here, never on their own.
        """
        await self.open()
        await self.close()
        return ["store ready: its schema is applied"]

    @abstractmethod
    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        """Add to a namespace's spend in the UTC day and month of ``at``, atomically, with every
        replica sharing the store adding at once (the namespace budgets' counters)."""

    @abstractmethod
    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        """A namespace's spend in the UTC day and month of ``at`` (zero when nothing was added)."""


#: Spend counters are kept this long after their day (a month and the one before it, and more),
#: then removed (SQL stores on a later write, DynamoDB by its TTL).
SPEND_KEPT = timedelta(days=70)


def spend_day(at: datetime) -> str:
    """The UTC day of ``at`` (naive means UTC) as ``YYYY-MM-DD``: a day's spend counter."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d")


def spend_cutoff(at: datetime) -> str:
    """The first day whose spend is still kept when writing at ``at`` (never later than what
    the clock says, so a writer whose ``at`` runs ahead removes nothing current)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return spend_day(min(aware, utcnow()) - SPEND_KEPT)


def gcra(tat: float | None, now: float, *, rate: float, burst: int) -> tuple[float | None, float]:
    """The generic cell rate algorithm: (the new theoretical arrival time, or None when refused;
    seconds to wait). One number per key, so a store keeps it with one conditional write."""
    interval = 1.0 / rate
    start = max(tat or now, now)
    wait = start - now - (burst - 1) * interval
    if wait > 1e-9:
        return None, wait
    return start + interval, 0.0


def encode_cursor(created_at: datetime, run_id: str) -> str:
    return f"{created_at.isoformat()}|{run_id}"


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, run_id = cursor.split("|", 1)
        datetime.fromisoformat(created)
    except ValueError:
        raise InvalidCursor("cursor: not a cursor this API gave (use nextCursor)") from None
    return created, run_id


def check_transition(run: RunRecord, status: RunStatus) -> None:
    if run.status not in TRANSITIONS[status]:
        raise InvalidTransition(run.id, run.status, status)


def apply_transition(run: RunRecord, status: RunStatus, changes: dict[str, Any]) -> RunRecord:
    """The record after a checked transition: timestamps, and no lease once finished.

    Shared by every backend so that they agree on what a transition means.
    """
    check_transition(run, status)
    now = utcnow()
    extra: dict[str, Any] = {"status": status, "updated_at": now}
    if status == RunStatus.RUNNING and run.started_at is None:
        extra["started_at"] = now
    if status.finished:
        extra.update(finished_at=now, lease_owner=None, lease_expires_at=None)
    else:
        extra["finished_at"] = None  # a failed run that goes on is not finished any more
    return run.model_copy(update={**extra, **changes})


def run_filters(workflow: str | None, status: RunStatus | None) -> list[tuple[str, Any]]:
    """(column, value) equalities of a run listing; ``workflow`` may be ``namespace/name``."""
    filters: list[tuple[str, Any]] = []
    if workflow:
        namespace, _, name = workflow.rpartition("/")
        filters.append(("workflow", name))
        if namespace:
            filters.append(("namespace", namespace))
    if status:
        filters.append(("status", RunStatus(status).value))
    return filters


def merge_pages(pages: Sequence[RunPage], limit: int) -> RunPage:
    """One page, newest first, from pages of the same listing in several namespaces.

    Each page must come from the same cursor and hold up to ``limit`` items with its own
    ``next_cursor``: whatever is not taken here is found again from the merged page's cursor.
    """
    items = sorted(
        (run for page in pages for run in page.items),
        key=lambda run: (run.created_at, run.id),
        reverse=True,
    )
    more = len(items) > limit or any(page.next_cursor for page in pages)
    items = items[:limit]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more and items else None
    return RunPage(items=items, next_cursor=next_cursor)


def page_of(records: list[str], limit: int) -> RunPage:
    """A page from up to ``limit + 1`` JSON records, newest first: one more means there is more."""
    items = [RunRecord.model_validate_json(r) for r in records[:limit]]
    more = len(records) > limit
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if more and items else None
    return RunPage(items=items, next_cursor=next_cursor)
