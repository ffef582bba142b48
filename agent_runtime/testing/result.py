"""What a test asserts on after a run: the run's record, its steps and its events, as stored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent_runtime.stores import RunEvent, RunRecord, RunStatus, StepRecord


@dataclass(frozen=True)
class RunResult:
    """A run where it stopped (finished, failed, or waiting for a person), read from the store."""

    run: RunRecord
    #: One record per attempt of each visit of each node, in the order they started.
    steps: list[StepRecord]
    events: list[RunEvent]

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def status(self) -> RunStatus:
        return self.run.status

    @property
    def output(self) -> dict[str, Any] | None:
        return self.run.output

    @property
    def error(self) -> dict[str, Any] | None:
        return self.run.error

    @property
    def interrupt(self) -> dict[str, Any] | None:
        """What the run waits for while ``interrupted``: a human node's fields, or an approval."""
        return self.run.interrupt

    @property
    def nodes(self) -> list[str]:
        """The node of each visit, in the order the visits started (retries counted once)."""
        seen: set[tuple[str, int]] = set()
        out = []
        for step in self.steps:
            if (step.node, step.visit) not in seen:
                seen.add((step.node, step.visit))
                out.append(step.node)
        return out

    @property
    def event_types(self) -> list[str]:
        return [event.type for event in self.events]
