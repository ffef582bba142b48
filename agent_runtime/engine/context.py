"""What every node of a run can reach: the run's id, the store, the dispatcher, the event sink."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.engine.dispatch import Dispatcher
from agent_runtime.engine.errors import RunCancelled
from agent_runtime.stores import RunEvent, RunStatus, RunStore, StepRecord

Listener = Callable[[RunEvent], Awaitable[None] | None]


@dataclass
class RunContext:
    run_id: str
    workflow: str
    store: RunStore
    dispatcher: Dispatcher
    listeners: list[Listener] = field(default_factory=list)

    async def emit(self, kind: str, data: dict[str, Any]) -> RunEvent:
        """Persist an event (so streams can be rejoined) and tell the listeners."""
        event = await self.store.append_event(self.run_id, kind, data)
        await self._tell(event)
        return event

    async def _tell(self, event: RunEvent) -> None:
        for listener in self.listeners:
            result = listener(event)
            if result is not None:
                await result

    async def step(self, step: StepRecord, kind: str, data: dict[str, Any]) -> None:
        """Record a step and its event in one write, then tell the listeners."""
        event = await self.store.record_step(step, event=(kind, data))
        if event is not None:
            await self._tell(event)

    async def check_cancelled(self) -> None:
        run = await self.store.get_run(self.run_id)
        if run.status == RunStatus.CANCELLED:
            raise RunCancelled("the run was cancelled")
