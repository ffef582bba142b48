"""The run-store interface, one small abstract class per concern; ``RunStore`` is all of them.

Every backend (``sqlite/``, ``postgres/``, ``s3/``) implements each concern in a module of the same
name (``records``, ``events``, ``leases``, ``checkpoints``, ``retention``, ``threads``) and passes
the one conformance suite in ``tests/stores``, which is organised by the same concerns.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from agent_runtime.stores.errors import RunNotFound, StoreError
from agent_runtime.stores.paging import RunQuery
from agent_runtime.stores.records import (
    Actor,
    RunEvent,
    RunPage,
    RunRecord,
    RunStatus,
    Spend,
    StepRecord,
    ThreadRecord,
    ThreadState,
    ThreadStatus,
    utcnow,
)
from agent_runtime.stores.thread_rules import ThreadQuery, changed, stored_object

if TYPE_CHECKING:  # light users (the CLI's argument checks) import records without LangGraph
    from langgraph.checkpoint.base import BaseCheckpointSaver

#: An event to append: its kind and data.
NewEvent = tuple[str, dict[str, Any]]
#: A transition's outcome: the run as moved, and its event (numbered) when one was asked for.
Moved = tuple[RunRecord, RunEvent | None]
#: What ``update_thread`` does to a thread, applied by a backend inside its write.
ThreadChange = Callable[[ThreadRecord], ThreadRecord]


class RunRecords(ABC):
    """Run records: created once, read, listed, and moved from status to status."""

    @abstractmethod
    async def create_run(self, run: RunRecord, *, enqueue: bool = False) -> RunRecord:
        """Insert a run; with an idempotency key already used for the workflow, return that run.

        A run on a thread another run holds is refused (``ThreadConflict``), or with ``enqueue``
        created parked in the thread's queue, to start when the runs before it are done."""

    @abstractmethod
    async def get_run(self, run_id: str) -> RunRecord: ...

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
        if namespaces is not None and not namespaces:
            return RunPage(items=[])
        query = RunQuery(workflow, status, namespaces, created_by, limit, cursor)
        return await self._list_page(query)

    @abstractmethod
    async def _list_page(self, query: RunQuery) -> RunPage:
        """The page ``list_runs`` asks for (its ``namespaces`` are None or some)."""

    async def count_runs(self, status: RunStatus) -> int:
        """How many runs have ``status`` (the gateway's queue depth); backends count in place."""
        total, cursor = 0, None
        while True:
            page = await self.list_runs(status=status, limit=500, cursor=cursor)
            total += len(page.items)
            if not (cursor := page.next_cursor):
                return total

    async def transition(self, run_id: str, status: RunStatus, **changes: Any) -> RunRecord:
        """Move a run to ``status`` (checked against TRANSITIONS) and set other fields at once."""
        run, _ = await self._transition(run_id, status, changes, None)
        return run

    async def transition_and_emit(
        self, run_id: str, status: RunStatus, kind: str, data: dict[str, Any], **changes: Any
    ) -> tuple[RunRecord, RunEvent]:
        """``transition`` and ``append_event`` in one transaction."""
        run, event = await self._transition(run_id, status, changes, (kind, data))
        assert event is not None
        return run, event

    @abstractmethod
    async def _transition(
        self, run_id: str, status: RunStatus, changes: dict[str, Any], event: NewEvent | None
    ) -> Moved:
        """The transition (with ``event`` appended in the same transaction, if given)."""

    async def is_cancelled(self, run_id: str) -> bool:
        """Whether a run has been cancelled; stores may answer from their last write's read."""
        return (await self.get_run(run_id)).status == RunStatus.CANCELLED

    @abstractmethod
    async def append_event(self, run_id: str, kind: str, data: dict[str, Any]) -> RunEvent: ...


class StepsAndEvents(ABC):
    """A run's step records (one per attempt of a node visit) and its numbered events."""

    @abstractmethod
    async def record_step(
        self, step: StepRecord, *, event: NewEvent | None = None
    ) -> RunEvent | None:
        """Insert or update the step keyed by (run, node, visit, attempt).

        With ``event`` (kind, data), append that event in the same transaction and return it:
        a step and its event cost one write, not two.
        """

    #: Whether ``defer_step`` takes steps (to write them with the next checkpoint commit).
    defers_steps: bool = False

    def defer_step(
        self, run_id: str, step: StepRecord | None, event: tuple[str, dict[str, Any]]
    ) -> RunEvent:
        """Hand over a step (or just an event) of a node that has finished, to be written in the
        same transaction as that node's checkpoint writes; returns the event, not yet numbered.

        Only for stores whose ``defers_steps`` is true; the engine records steps itself otherwise.
        """
        pending = RunEvent(run_id=run_id, seq=0, type=event[0], data=event[1])
        self._defer(run_id, step, pending)
        return pending

    def _defer(self, run_id: str, step: StepRecord | None, event: RunEvent) -> None:
        """Keep a deferred step and its event for the run's next checkpoint commit."""
        raise NotImplementedError(f"{type(self).__name__} writes steps at once")

    async def flush_steps(self, run_id: str) -> None:
        """Write whatever ``defer_step`` still holds for a run."""

    def drop_steps(self, run_id: str) -> None:
        """Forget, unwritten, what ``defer_step`` holds for a run: this process lost its lease,
        and whoever took the run over records those steps again."""

    @abstractmethod
    async def list_steps(self, run_id: str) -> list[StepRecord]: ...

    @abstractmethod
    async def append_event(self, run_id: str, kind: str, data: dict[str, Any]) -> RunEvent: ...

    @abstractmethod
    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]: ...


class Leases(ABC):
    """Which replica executes which run: claims, renewals, releases; and shared rate limits."""

    #: Whether ``claim_run`` can cap a namespace's runs in flight (``max_per_namespace``).
    caps_namespaces: bool = True

    @abstractmethod
    async def claim_run(
        self, *, owner: str, ttl: float, max_per_namespace: int = 0
    ) -> RunRecord | None:
        """Take the lease of a queued run, or of a running one whose lease expired: the oldest
        of its namespace. SQLite and Postgres are fair across namespaces (the one holding the
        fewest leases first, ties in turn), so a few runs do not wait behind a crowded
        namespace's thousands; the S3 store takes the oldest of any namespace.

        ``max_per_namespace`` (0: no cap): pass over namespaces that already hold that many
        leases, across every replica sharing the store, so their runs wait queued.
        """

    @abstractmethod
    async def renew_lease(self, run_id: str, *, owner: str, ttl: float) -> bool:
        """Extend a lease this owner holds; False when it lost it."""

    @abstractmethod
    async def release_lease(self, run_id: str, *, owner: str) -> None: ...

    async def take_token(self, key: str, *, rate: float, burst: int) -> float:
        """Rate limiting shared by every replica (GCRA): take one of ``key``'s tokens.

        Tokens come back at ``rate`` per second up to ``burst``. Returns 0.0 when one was taken,
        else how many seconds until one will be (nothing is taken then).
        """
        raise StoreError(f"the {type(self).__name__} does not keep rate limits")


class Checkpoints(ABC):
    """LangGraph's checkpoints of each run (thread = run id), in the same backend."""

    #: The open store's saver (``_new_saver``), None while the store is closed.
    _saver: BaseCheckpointSaver[Any] | None = None

    def checkpointer(self) -> BaseCheckpointSaver[Any]:
        """The LangGraph checkpointer writing to the same backend."""
        if self._saver is None:
            raise StoreError("the store is not open")
        return self._saver

    @abstractmethod
    def _new_saver(self) -> BaseCheckpointSaver[Any]:
        """The backend's saver, made once the store is open (``open`` calls it)."""

    def expect_new_thread(self, run_id: str) -> None:
        """The run has no checkpoint yet (it never started, and this process holds it): its
        saver may answer the first read of its checkpoints without asking the backend."""
        from agent_runtime.stores.coalescing import CoalescingSaver

        if isinstance(self._saver, CoalescingSaver):
            self._saver.expect_new(run_id)


class Retention(ABC):
    """How long finished runs stay, and the namespaces' spend counters (kept ``SPEND_KEPT``)."""

    @abstractmethod
    async def delete_runs(self, *, finished_before: datetime) -> int:
        """Remove finished runs (and their steps, events and checkpoints); returns how many."""

    @abstractmethod
    async def delete_run(self, run_id: str) -> bool:
        """Remove one finished run with its steps, events and checkpoints (its idempotency key
        freed), as ``delete_runs`` does; False, leaving everything, when the run is not finished
        (a failed run retried meanwhile) or is gone already. A Trigger's history limits use it."""

    async def prune(self, older_than: timedelta) -> int:
        """Remove runs that finished (succeeded, failed, cancelled) more than ``older_than`` ago,
        with their steps, events and checkpoints; returns how many (``runs prune``)."""
        return await self.delete_runs(finished_before=utcnow() - older_than)

    @abstractmethod
    async def add_spend(self, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
        """Add to a namespace's spend in the UTC day and month of ``at``, atomically, with every
        replica sharing the store adding at once (the namespace budgets' counters)."""

    @abstractmethod
    async def get_spend(self, namespace: str, *, at: datetime) -> Spend:
        """A namespace's spend in the UTC day and month of ``at`` (zero when nothing was added)."""


class Threads(ABC):
    """Conversations: a run on a thread starts from its values and leaves its own (see
    ``thread_rules``); ``create_run`` of a run naming a thread claims it in the same write."""

    @abstractmethod
    async def create_thread(self, thread: ThreadRecord) -> ThreadRecord:
        """Insert a thread; ThreadConflict when its id is taken."""

    @abstractmethod
    async def get_thread(self, thread_id: str) -> ThreadRecord:
        """The thread, or ThreadNotFound."""

    async def search_threads(
        self,
        *,
        namespaces: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        status: ThreadStatus | None = None,
        created_by: str | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> list[ThreadRecord]:
        """Threads newest updated first (``namespaces`` as in ``list_runs``)."""
        if namespaces is not None and not namespaces:
            return []
        query = ThreadQuery(namespaces, dict(metadata or {}), status, created_by, limit, offset)
        return await self._search_threads(query)

    @abstractmethod
    async def _search_threads(self, query: ThreadQuery) -> list[ThreadRecord]: ...

    async def update_thread(
        self,
        thread_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        values: dict[str, Any] | None = None,
    ) -> ThreadRecord:
        """Merge ``metadata`` into the thread's; ``values`` replace its state.

        Both are checked and turned into what the store keeps (JSON) here, once, so that every
        backend writes, and returns, the same thread; InvalidThreadUpdate names a bad one."""
        return await self._update_thread(
            thread_id,
            partial(
                changed,
                metadata=stored_object("metadata", metadata),
                values=stored_object("values", values),
            ),
        )

    @abstractmethod
    async def _update_thread(self, thread_id: str, change: ThreadChange) -> ThreadRecord:
        """Read the thread, ``change`` it and write it, as one write; the thread written."""

    @abstractmethod
    async def delete_thread(self, thread_id: str) -> None:
        """Delete a thread with its runs (records, steps, events, checkpoints); refused
        (ThreadConflict) while a run executes on it."""

    @abstractmethod
    async def erase_run(self, run_id: str) -> None:
        """Delete a finished run of a thread as if it never ran (``rollback``): its record,
        steps, events, checkpoints and place in the thread's history. The thread's values stay
        as they were before it: a run leaves them only in its last transition, and a run rolled
        back is cancelled leaving none."""

    @abstractmethod
    async def copy_thread(
        self, thread_id: str, new_id: str, *, created_by: Actor | None = None
    ) -> ThreadRecord:
        """A new idle thread with the same metadata and values, and a copy of the history
        (checkpoints copied, not shared: either thread can be deleted alone)."""

    @abstractmethod
    async def _thread_runs(
        self, thread_id: str, limit: int, before: str | None, inclusive: bool = False
    ) -> list[str]:
        """Ids of the thread's runs (and copied histories), newest first, older than the run
        ``before`` (or from it, ``inclusive``; none if it is not the thread's): each the
        LangGraph thread of its checkpoints."""


class RunStore(RunRecords, StepsAndEvents, Leases, Checkpoints, Retention, Threads):
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

    async def init(self) -> list[str]:
        """Create what the store needs (``store init``); one line per thing done.

        Local and SQL stores create their schema whenever they open; cloud stores create their
        resources only here, never on their own.
        """
        await self.open()
        await self.close()
        return ["store ready: its schema is applied"]

    def is_transient(self, exc: BaseException) -> bool:
        """Whether an error is the store's passing trouble (a restart, a lost connection).

        The engine then leaves the run to be resumed from its last checkpoint instead of failing
        it. Backends add their driver's connection errors.
        """
        return isinstance(exc, StoreError)

    async def list_thread_runs(self, thread_id: str, *, limit: int = 50) -> list[RunRecord]:
        """The thread's runs, newest first (copied history has no run records)."""
        runs = []
        for run_id in await self._thread_runs(thread_id, limit, None):
            try:
                runs.append(await self.get_run(run_id))
            except RunNotFound:
                continue
        return runs

    async def thread_history(
        self, thread_id: str, *, limit: int = 10, before: tuple[str, str] | None = None
    ) -> list[ThreadState]:
        """The states of the thread's runs step by step, newest first; ``before``: older than
        this (run id, checkpoint id). Reads only the runs the page spans."""
        from agent_runtime.stores.thread_history import history

        await self.get_thread(thread_id)
        return await history(
            self.checkpointer(), self._thread_runs, thread_id, limit=limit, before=before
        )
