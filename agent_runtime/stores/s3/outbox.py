"""Step records and events the engine hands over, waiting for the commit of their run's next
checkpoint; and what that commit saw of the run's status."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.stores.records import RunEvent, StepRecord
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.layout import PK, SK, run_pk, s, step_sk
from agent_runtime.stores.s3.payloads import pack
from agent_runtime.stores.s3.transact import Kind, Op, put

Deferred = tuple[StepRecord | None, RunEvent]


#: Finished runs whose TTL this process remembers (for writes that come after the finish).
EXPIRING_RUNS = 4096


@dataclass
class StepOutbox:
    pending: dict[str, list[Deferred]] = field(default_factory=dict)
    #: Whether the last commit of a run found it cancelled; read once by ``is_cancelled``.
    cancelled: dict[str, bool] = field(default_factory=dict)
    #: The TTL of finished runs: what is written for them later (a cancelled run's last step,
    #: LangGraph's record of the cancellation) expires with them.
    expiring: OrderedDict[str, int] = field(default_factory=OrderedDict)

    def expire(self, run_id: str, ttl: int | None) -> None:
        if ttl is None:
            self.expiring.pop(run_id, None)
            return
        self.expiring[run_id] = ttl
        self.expiring.move_to_end(run_id)
        while len(self.expiring) > EXPIRING_RUNS:
            self.expiring.popitem(last=False)

    def add(self, run_id: str, step: StepRecord | None, event: RunEvent) -> None:
        self.pending.setdefault(run_id, []).append((step, event))

    def take(self, run_id: str) -> tuple[list[StepRecord], list[RunEvent]]:
        deferred = self.pending.pop(run_id, [])
        latest = {(st.node, st.visit, st.attempt): st for st, _ in deferred if st is not None}
        return list(latest.values()), [event for _, event in deferred]


def step_item(aws: Aws, step: StepRecord) -> dict[str, Any]:
    name = f"step-{step.visit}-{step.attempt}"
    return {
        PK: s(run_pk(step.run_id)),
        SK: s(step_sk(step.node, step.visit, step.attempt)),
        **pack(aws, step.model_dump_json().encode(), run_id=step.run_id, name=name),
    }


def step_op(aws: Aws, step: StepRecord) -> Op:
    """A step's Put (a step is written over: running, then succeeded)."""
    item = step_item(aws, step)
    return Op(Kind.PUT, put(aws.url.table, item), [item.get("doc_s3", {}).get("S")])
