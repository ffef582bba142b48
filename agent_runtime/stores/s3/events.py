"""S3 store steps and events: a step and its event cost one request; event numbers are gapless
(event ``n`` is written, conditionally, only after ``n - 1`` exists)."""

from __future__ import annotations

from typing import Any

from agent_runtime.stores.records import RunEvent, StepRecord
from agent_runtime.stores.s3 import transact
from agent_runtime.stores.s3.connection import S3Connection
from agent_runtime.stores.s3.fencing import fence_for
from agent_runtime.stores.s3.layout import PK, SK, event_sk, run_pk, s, ts
from agent_runtime.stores.s3.outbox import step_op
from agent_runtime.stores.s3.payloads import unpack
from agent_runtime.stores.s3.tableops import partition, query


class S3Events(S3Connection):
    async def record_step(
        self, step: StepRecord, *, event: tuple[str, dict[str, Any]] | None = None
    ) -> RunEvent | None:
        """The step and its event: one request."""
        events = (
            [RunEvent(run_id=step.run_id, seq=0, type=event[0], data=event[1])] if event else []
        )
        fence = fence_for(self._table, step.run_id)
        outcome = await self.aws.run(
            lambda: transact.write(
                self.aws,
                [step_op(self.aws, step)],
                events=events,
                run_id=step.run_id,
                numbers=self._numbers,
                expires_at=self._outbox.expiring.get(step.run_id),
                fence=fence,
            )
        )
        return outcome.events[0] if outcome.events else None

    def _defer(self, run_id: str, step: StepRecord | None, event: RunEvent) -> None:
        self._outbox.add(run_id, step, event)

    async def flush_steps(self, run_id: str) -> None:
        try:
            if self._saver is not None:
                await self._saver.flush(run_id)
        finally:
            self.drop_steps(run_id)

    def drop_steps(self, run_id: str) -> None:
        self._outbox.pending.pop(run_id, None)
        self._outbox.cancelled.pop(run_id, None)
        if self._saver is not None:
            self._saver.forget(run_id)

    async def is_cancelled(self, run_id: str) -> bool:
        seen = self._outbox.cancelled.pop(run_id, None)
        if seen is None:
            return await super().is_cancelled(run_id)
        return seen

    async def append_event(self, run_id: str, kind: str, data: dict[str, Any]) -> RunEvent:
        event = RunEvent(run_id=run_id, seq=0, type=kind, data=data)
        fence = fence_for(self._table, run_id)
        outcome = await self.aws.run(
            lambda: transact.write(
                self.aws,
                [],
                events=[event],
                run_id=run_id,
                numbers=self._numbers,
                expires_at=self._outbox.expiring.get(run_id),
                fence=fence,
            )
        )
        return outcome.events[0]

    async def list_steps(self, run_id: str) -> list[StepRecord]:
        return await self.aws.run(self._list_steps, run_id)

    def _list_steps(self, run_id: str) -> list[StepRecord]:
        steps = [
            StepRecord.model_validate_json(unpack(self.aws, item))
            for item in partition(self.aws, run_pk(run_id), "step#")
        ]
        steps.sort(key=lambda st: (ts(st.started_at), st.node, st.visit, st.attempt))
        return steps

    async def list_events(self, run_id: str, *, after: int = 0) -> list[RunEvent]:
        return await self.aws.run(self._list_events, run_id, after)

    def _list_events(self, run_id: str, after: int) -> list[RunEvent]:
        items = query(
            self.aws,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :lo AND :hi",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={
                ":pk": s(run_pk(run_id)),
                ":lo": s(event_sk(max(after, 0) + 1)),
                ":hi": s(event_sk(10**12 - 1)),
            },
            ConsistentRead=True,
        )
        return [RunEvent.model_validate_json(unpack(self.aws, item)) for item in items]
