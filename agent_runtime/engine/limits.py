"""A run's spend against ``limits.maxTokens`` and ``limits.maxToolCalls``.

The counts live in the run's hidden ``USAGE`` channel, so they are checkpointed with the state and
survive any restart; each node adds what it spent, and each approved extension grants the limit's
allowance once more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent_runtime.engine.channels import USAGE
from agent_runtime.executors import TaskBudget
from agent_runtime.spec.workflow import Limits

Limit = Literal["maxTokens", "maxToolCalls"]

_TOKENS, _CALLS = "tokens", "toolCalls"
_GRANTS: dict[Limit, str] = {"maxTokens": "tokenGrants", "maxToolCalls": "toolCallGrants"}
#: Error codes of a run stopped at a limit.
CODES: dict[Limit, str] = {"maxTokens": "max_tokens", "maxToolCalls": "max_tool_calls"}


@dataclass
class RunSpend:
    """What the run spent before this node (from the state) plus what this node spent so far."""

    limits: Limits
    before: dict[str, int]
    added: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, state: dict[str, Any], limits: Limits) -> RunSpend:
        return cls(limits, dict(state.get(USAGE) or {}))

    def _get(self, key: str) -> int:
        return self.before.get(key, 0) + self.added.get(key, 0)

    def add(self, key: str, n: int = 1) -> None:
        if n:
            self.added[key] = self.added.get(key, 0) + n

    def spent(self, tokens: int, tool_calls: int) -> None:
        """Count what a dispatch spent, against the limits the run has (no limit, no write)."""
        if self.limits.max_tokens is not None:
            self.add(_TOKENS, tokens)
        if self.limits.max_tool_calls is not None:
            self.add(_CALLS, tool_calls)

    def allowance(self, limit: Limit) -> int | None:
        """The limit as the Workflow sets it: what each approved extension grants again."""
        return self.limits.max_tokens if limit == "maxTokens" else self.limits.max_tool_calls

    def allowed(self, limit: Limit) -> int | None:
        base = self.allowance(limit)
        return None if base is None else base * (1 + self._get(_GRANTS[limit]))

    def used(self, limit: Limit) -> int:
        return self._get(_TOKENS if limit == "maxTokens" else _CALLS)

    def grant(self, limit: Limit) -> None:
        self.add(_GRANTS[limit])

    def over(self, *, tool_node: bool) -> Limit | None:
        """The limit a node may not start under: tokens for any node that calls a model,
        tool calls for a tool node (a model's calls are held back by its agent, round by round)."""
        checked: tuple[Limit, ...] = ("maxToolCalls",) if tool_node else ("maxTokens",)
        for limit in checked:
            allowed = self.allowed(limit)
            if allowed is not None and self.used(limit) >= allowed:
                return limit
        return None

    def remaining(self) -> TaskBudget:
        def left(limit: Limit) -> int | None:
            allowed = self.allowed(limit)
            return None if allowed is None else max(allowed - self.used(limit), 0)

        return TaskBudget(tokens=left("maxTokens"), tool_calls=left("maxToolCalls"))

    def message(self, limit: Limit) -> str:
        what = "tokens" if limit == "maxTokens" else "tool calls"
        return (
            f"limits.{limit}: the run used {self.used(limit)} {what} of the "
            f"{self.allowed(limit)} it may use"
        )
