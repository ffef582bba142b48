"""Approvals: what a run that waits for a person's yes or no asks, and how answers are checked.

A run interrupts for an approval before a gated tool call (``requireApproval``), or at a limit
(``limits.onExceeded: pause``, a namespace budget). The interrupt's request says which; the answer
is checked against it before the run is queued again, and recorded on the run with who gave it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from agent_runtime.executors import Decision
from agent_runtime.providers.base import ToolCall, WireModel
from agent_runtime.spec.run_input import InputError
from agent_runtime.stores import Actor, Approval

#: Why a run waits for an approval: a gated tool call, or a limit it reached.
Reason = Literal["approval", "maxTokens", "maxToolCalls", "namespaceBudget", "unknownOutcome"]


class ApprovalRequest(WireModel):
    """The interrupt of a run waiting for an approval (``kind: approval``)."""

    kind: Literal["approval"] = "approval"
    #: Names this request among all a run makes (``node/visit/n``: the n-th of that visit), so
    #: that an answer meant for it cannot land on the next one.
    id: str = ""
    node: str
    visit: int
    reason: Reason
    #: What the person is asked, in one line.
    message: str
    #: The tool calls that wait (none for a limit reached before a node starts).
    calls: list[ToolCall] = Field(default_factory=list)
    #: For a limit: which one and the period it counts (a namespace budget's day or month).
    limit: str | None = None
    period: str | None = None


class ApprovalInput(WireModel):
    """A person's answer: ``approved`` for every waiting call, unless ``calls`` says otherwise
    for some of them (call id to yes or no)."""

    model_config = WireModel.model_config | {"extra": "forbid"}
    approved: bool
    reason: str = Field(default="", max_length=2000)
    calls: dict[str, bool] = Field(default_factory=dict)
    #: For a call whose outcome is unknown: its result, to go on with instead of calling again.
    result: Any = None
    #: The ``id`` of the request this answers; when the run waits for another, nothing is
    #: decided (409). Without it, the answer goes to whatever the run waits for.
    request: str | None = Field(default=None, max_length=200)


class ApprovalAnswer(WireModel):
    """The resume value a node gets back: one decision per waiting call."""

    approved: bool
    reason: str = ""
    decisions: dict[str, Decision] = Field(default_factory=dict)
    result: Any = None


def answer(request: dict[str, Any], given: ApprovalInput) -> ApprovalAnswer:
    """Check ``given`` against the run's waiting request; InputError names what does not fit."""
    asked = ApprovalRequest.model_validate(request)
    ids = [call.id for call in asked.calls]
    problems = [
        f"calls.{call_id}: not a call this run waits for (waiting: {', '.join(ids) or 'none'})"
        for call_id in given.calls
        if call_id not in ids
    ]
    if given.result is not None and asked.reason != "unknownOutcome":
        problems.append("result: only a call whose outcome is unknown takes a result")
    if given.result is not None and not given.approved:
        problems.append("result: goes with approved: true (go on with this result)")
    if problems:
        raise InputError(problems)
    decisions = {
        call_id: Decision(approved=given.calls.get(call_id, given.approved), reason=given.reason)
        for call_id in ids
    }
    approved = all(d.approved for d in decisions.values()) if decisions else given.approved
    return ApprovalAnswer(
        approved=approved, reason=given.reason, decisions=decisions, result=given.result
    )


def records(request: dict[str, Any], given: ApprovalAnswer, by: Actor | None) -> list[Approval]:
    """What the run keeps of an answer: one record per call, or one for a limit."""
    asked = ApprovalRequest.model_validate(request)

    def record(**fields: Any) -> Approval:
        return Approval(
            node=asked.node,
            visit=asked.visit,
            reason=asked.reason,
            by=by,
            comment=given.reason,
            **fields,
        )

    if not asked.calls:
        return [record(limit=asked.limit, period=asked.period, approved=given.approved)]
    return [
        record(call_id=call.id, tool=call.name, approved=given.decisions[call.id].approved)
        for call in asked.calls
    ]
