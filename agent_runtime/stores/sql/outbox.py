"""The step outbox of the SQL stores: steps and events the engine hands over ride with the run's
next checkpoint commit (see ``coalescing``), so a durable step is one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_runtime.stores.base import RunStore
from agent_runtime.stores.coalescing import CoalescingSaver
from agent_runtime.stores.records import RunEvent, RunRecord, RunStatus, StepRecord

Deferred = tuple[StepRecord | None, RunEvent | None]


@dataclass
class StepOutbox:
    """Step records and events the engine hands over, per run, to ride with its next commit;
    ``statuses`` receives the run status read in that commit (for ``is_cancelled``)."""

    pending: dict[str, list[Deferred]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)

    def add(self, run_id: str, step: StepRecord | None, event: RunEvent | None) -> None:
        self.pending.setdefault(run_id, []).append((step, event))

    def take(self, run_id: str) -> list[Deferred]:
        return self.pending.pop(run_id, [])

    def give_back(self, run_id: str, deferred: list[Deferred]) -> None:
        """Steps of a commit that failed: they may belong to writes a later commit carries (a
        fan-out branch's), so they go with the next commit of the run (or are dropped with it)."""
        if deferred:
            self.pending[run_id] = deferred + self.pending.get(run_id, [])

    def moved(self, run: RunRecord) -> None:
        # Only runs executed here (the engine asks ``is_cancelled`` and forgets them at the end):
        # an API process that cancels or queues runs must not collect them.
        if run.status == RunStatus.RUNNING or run.id in self.statuses:
            self.statuses[run.id] = run.status.value


class OutboxSaver(CoalescingSaver):
    """A coalescing saver whose commits also carry a ``StepOutbox``'s steps and events."""

    def __init__(self, outbox: StepOutbox) -> None:
        super().__init__()
        self.outbox = outbox

    def _waiting(self, thread_id: str) -> bool:
        return super()._waiting(thread_id) or bool(self.outbox.pending.get(thread_id))

    def forget(self, thread_id: str) -> None:
        super().forget(thread_id)
        self.outbox.pending.pop(thread_id, None)
        self.outbox.statuses.pop(thread_id, None)


class DeferringStore(RunStore):
    """A run store whose saver (an ``OutboxSaver``) writes deferred steps with checkpoints."""

    defers_steps = True
    _outbox: StepOutbox
    _saver: OutboxSaver | None

    def _defer(self, run_id: str, step: StepRecord | None, event: RunEvent) -> None:
        self._outbox.add(run_id, step, event)

    async def flush_steps(self, run_id: str) -> None:
        if self._saver is None:
            return
        try:
            await self._saver.flush(run_id)
        finally:
            self._saver.forget(run_id)

    def drop_steps(self, run_id: str) -> None:
        if self._saver is not None:
            self._saver.forget(run_id)

    async def is_cancelled(self, run_id: str) -> bool:
        seen = self._outbox.statuses.pop(run_id, None)
        if seen is None:
            return await super().is_cancelled(run_id)
        return seen == RunStatus.CANCELLED.value
