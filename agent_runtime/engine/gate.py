"""Where a node stops for a person: gated tool calls, and limits that pause instead of failing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from langgraph.func import task
from langgraph.types import interrupt

from agent_runtime.engine.approvals import ApprovalAnswer, ApprovalRequest, Reason
from agent_runtime.engine.context import RunContext
from agent_runtime.engine.errors import NodeFailed
from agent_runtime.engine.limits import CODES, Limit, RunSpend
from agent_runtime.providers.base import ToolCall

Call = Callable[[], Awaitable[Any]]


async def _call(call: Call) -> Any:
    return await call()


#: Runs a call once per run: when a node that interrupted after it goes on, LangGraph replays
#: the node and hands back the checkpointed result instead of calling again. The result must
#: be plain JSON.
once: Callable[[Call], Awaitable[Any]] = cast(Any, task(name="node-call")(cast(Any, _call)))


@dataclass
class Gate:
    """One node visit's approvals. Interrupts replay in order when the node goes on, so every
    choice made before one must come out the same on replay: from the state, or through
    ``once``."""

    ctx: RunContext
    node: str
    visit: int
    spend: RunSpend
    #: Whether the run may pause at its own limits (else it fails there).
    pauses_at_limits: bool
    _asked: int = 0

    def ask(
        self,
        reason: Reason,
        message: str,
        calls: list[ToolCall] | None = None,
        *,
        limit: str | None = None,
        period: str | None = None,
    ) -> ApprovalAnswer:
        self._asked += 1  # the same on every replay: interrupts replay in order
        request = ApprovalRequest(
            id=f"{self.node}/{self.visit}/{self._asked}",
            node=self.node,
            visit=self.visit,
            reason=reason,
            message=message,
            calls=calls or [],
            limit=limit,
            period=period,
        )
        return ApprovalAnswer.model_validate(interrupt(request.model_dump(by_alias=True)))

    def at_limit(self, limit: Limit) -> ApprovalAnswer:
        """Fail at ``limit``, or wait for a person to grant its allowance once more."""
        message = self.spend.message(limit)
        if not self.pauses_at_limits:
            raise NodeFailed(message, node=self.node, code=CODES[limit])
        more = self.spend.allowance(limit)
        answer = self.ask(limit, f"{message}: grant {more} more?", limit=limit)
        if not answer.approved:
            raise NodeFailed(
                f"{message}; a person declined more", node=self.node, code=CODES[limit]
            )
        self.spend.grant(limit)
        return answer

    def unknown_outcome(self, call: ToolCall) -> ApprovalAnswer:
        """A call of a tool that is not idempotent started and left no result: ask a person
        whether to run it again, go on with a result they give, or fail."""
        answer = self.ask(
            "unknownOutcome",
            f"tool '{call.name}' may or may not have taken effect: the process calling it "
            "stopped before its result was recorded. Approve to call it again, approve with a "
            "result to go on with that, deny to fail the run",
            [call],
        )
        if not answer.approved:
            raise NodeFailed(
                f"node '{self.node}': tool '{call.name}' may or may not have taken effect, "
                "and a person chose to fail the run",
                node=self.node,
                code="unknown_outcome",
            )
        return answer

    async def before_dispatch(self, *, tool_node: bool) -> None:
        """The run's own limits, then the namespace's budget (for nodes that call a model)."""
        while (limit := self.spend.over(tool_node=tool_node)) is not None:
            self.at_limit(limit)
        budgets = self.ctx.budgets
        if tool_node or budgets is None:
            return
        pauses = budgets.on_exceeded == "pause"

        async def check() -> dict[str, Any] | None:
            found = await budgets.exceeded(self.ctx.namespace)
            if found is None:
                return None
            return {**found.model_dump(mode="json"), "message": found.message()}

        found = await once(check) if pauses else await check()
        if found is None:
            return
        grant, message = f"namespace:{found['period']}", str(found["message"])
        if not pauses:
            raise NodeFailed(message, node=self.node, code="namespace_budget")
        if self.spend.before.get(grant) or self.spend.added.get(grant):
            return  # a person let this run go on for this period already
        answer = self.ask(
            "namespaceBudget",
            f"{message}: let this run go on?",
            limit=found["limit"],
            period=found["period"],
        )
        if not answer.approved:
            raise NodeFailed(
                f"{message}; a person declined to let the run go on",
                node=self.node,
                code="namespace_budget",
            )
        self.spend.add(grant)
