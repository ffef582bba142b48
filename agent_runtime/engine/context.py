"""What every node of a run can reach: the run's id, the store, the dispatcher, the event sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from agent_runtime.engine.deltas import DeltaWriter
from agent_runtime.engine.dispatch import Dispatcher
from agent_runtime.engine.errors import RunCancelled
from agent_runtime.engine.leases import LeaseRenewal
from agent_runtime.stores import RunEvent, RunStore, StepRecord

Listener = Callable[[RunEvent], Awaitable[None] | None]


class Exceeded(Protocol):
    def model_dump(self, *, mode: str) -> dict[str, Any]: ...

    def message(self) -> str: ...


class Budgets(Protocol):
    """The namespace budgets the platform sets (``engine.budgets.NamespaceBudgets``)."""

    @property
    def on_exceeded(self) -> Literal["fail", "pause"]: ...

    async def exceeded(self, namespace: str) -> Exceeded | None: ...

    async def charge(
        self, namespace: str, provider: str, model: str, input_tokens: int, output_tokens: int
    ) -> None: ...


#: Seconds a node runs before its "started" record is written on its own. A node that finishes
#: sooner has it written with its result, in the transaction of its checkpoint (stores that
#: defer steps): a fast step costs one commit, a slow one shows as running within this delay.
STARTED_WRITE_DELAY = 0.05

StepKey = tuple[str, int, int]

#: Seconds by which an agent's clock may run behind the gateway's (clocks kept by NTP agree to
#: milliseconds): a call's start deadline is set this much early.
CLOCK_SKEW = 0.5


def early(span: float) -> float:
    """How much earlier than the end of ``span`` seconds a start deadline is set: the clock
    allowance, or a tenth of a short span (a test's lease of a second)."""
    return min(CLOCK_SKEW, span / 10)


@dataclass
class _Started:
    step: StepRecord
    data: dict[str, Any]
    timer: asyncio.TimerHandle | None = None
    write: asyncio.Task[Any] | None = None


@dataclass
class RunContext:
    run_id: str
    workflow: str
    store: RunStore
    dispatcher: Dispatcher
    listeners: list[Listener] = field(default_factory=list)
    namespace: str = "default"
    budgets: Budgets | None = None
    #: Seconds of model text per ``node.delta`` event; None: model text is not streamed.
    delta_interval: float | None = None
    #: The renewal of the run's lease while this process executes it.
    lease: LeaseRenewal | None = None
    _started: dict[StepKey, _Started] = field(default_factory=dict)

    def start_by(self, timeout: float | None) -> datetime | None:
        """When an agent must have started a call the engine makes once: before the engine
        gives the call up (``timeout`` from now) and before the lease may pass to another
        process, each less an allowance for the agent's clock (``early``)."""
        ends = []
        if self.lease is not None:
            ends.append(self.lease.holds_until - early(self.lease.ttl))
        if timeout is not None:
            ends.append(time.time() + timeout - early(timeout))
        return datetime.fromtimestamp(min(ends), UTC) if ends else None

    async def emit(self, kind: str, data: dict[str, Any]) -> RunEvent:
        """Persist an event (so streams can be rejoined) and tell the listeners."""
        event = await self.store.append_event(self.run_id, kind, data)
        await self.tell(event)
        return event

    async def tell(self, event: RunEvent) -> None:
        for listener in self.listeners:
            result = listener(event)
            if result is not None:
                await result

    async def step(self, step: StepRecord, kind: str, data: dict[str, Any]) -> None:
        """Record a step and its event in one write now, then tell the listeners."""
        await self._settle_started(step, write=True)
        event = await self.store.record_step(step, event=(kind, data))
        if event is not None:
            await self.tell(event)

    async def record_step(self, step: StepRecord) -> None:
        """Record a step with no event now (after its started record, if that is pending)."""
        await self._settle_started(step, write=True)
        await self.store.record_step(step)

    async def node_started(self, step: StepRecord, data: dict[str, Any]) -> None:
        """A node attempt begins: listeners hear now, the store within ``STARTED_WRITE_DELAY``."""
        if not self.store.defers_steps:
            await self.step(step, "node.started", data)
            return
        started = self._started[_key(step)] = _Started(step, data)
        started.timer = asyncio.get_running_loop().call_later(
            STARTED_WRITE_DELAY, self._write_started, started
        )
        await self.tell(RunEvent(run_id=self.run_id, seq=0, type="node.started", data=data))

    def _write_started(self, started: _Started) -> None:
        started.timer = None
        started.write = asyncio.get_running_loop().create_task(
            self.store.record_step(started.step, event=("node.started", started.data))
        )

    async def _settle_started(self, step: StepRecord, *, write: bool) -> dict[str, Any] | None:
        """Wait for the started record of ``step`` if it is being written; if it never was,
        write it now (``write``) or return its event data for the caller to carry."""
        started = self._started.pop(_key(step), None)
        if started is None:
            return None
        if started.write is not None:
            await started.write
            return None
        if started.timer is not None:
            started.timer.cancel()
        if write:
            await self.store.record_step(started.step, event=("node.started", started.data))
            return None
        return started.data

    async def node_finished(self, step: StepRecord, data: dict[str, Any]) -> None:
        """A node attempt succeeded: its record rides with the node's checkpoint writes."""
        if not self.store.defers_steps:
            await self.step(step, "node.finished", data)
            return
        unwritten = await self._settle_started(step, write=False)
        if unwritten is not None:
            self.store.defer_step(self.run_id, None, ("node.started", unwritten))
        await self.tell(self.store.defer_step(self.run_id, step, ("node.finished", data)))

    def deltas(self, step: StepRecord, message_id: Callable[[int], str]) -> DeltaWriter | None:
        """A writer of the attempt's ``node.delta`` events (None when text is not streamed).

        ``message_id``: the id the message at a position among those the task adds will have,
        so that readers know the streamed text and the message the node appends are one."""
        if self.delta_interval is None:
            return None

        async def write(message: int, text: str) -> None:
            await self._settle_started(step, write=True)  # the start is told before any text
            data = {"node": step.node, "visit": step.visit, "attempt": step.attempt}
            await self.emit("node.delta", {**data, "text": text, "messageId": message_id(message)})

        return DeltaWriter(write, self.delta_interval)

    async def close(self) -> None:
        """Write what is still pending: started records and steps the store holds."""
        for started in list(self._started.values()):
            await self._settle_started(started.step, write=True)
        await self.store.flush_steps(self.run_id)

    def abandon(self) -> None:
        """This process lost the run's lease: nothing it still holds is written (whoever took the
        run over records those steps again; a started record being written is refused)."""
        for started in self._started.values():
            if started.timer is not None:
                started.timer.cancel()
            if started.write is not None:
                started.write.add_done_callback(_retrieve)
        self._started.clear()
        self.store.drop_steps(self.run_id)

    async def check_cancelled(self) -> None:
        if await self.store.is_cancelled(self.run_id):
            raise RunCancelled("the run was cancelled")


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Take a dropped write's outcome, so that its refusal is not reported as unhandled."""
    if not task.cancelled():
        task.exception()


def _key(step: StepRecord) -> StepKey:
    return (step.node, step.visit, step.attempt)
