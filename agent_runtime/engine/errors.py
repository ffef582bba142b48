"""Errors of running workflows, each with a stable code for the API and the CLI."""

from __future__ import annotations

from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.spec.run_input import InputError

#: Input errors are the spec layer's (it checks a run's input); named here with the run errors.
__all__ = ["InputError", "NodeFailed", "OutcomeUnknown", "RunCancelled", "RunError", "RunWaiting"]


class RunError(AgentRuntimeError, RuntimeError):
    """A run could not go on; ``code`` is stable, ``message`` is safe to show."""

    code = "run_failed"

    def __init__(self, message: str, *, node: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.node = node
        if code:
            self.code = code

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": str(self)}
        if self.node:
            out["node"] = self.node
        return out


class NodeFailed(RunError):
    code = "node_failed"


class RunCancelled(RunError):
    code = "cancelled"


class RunWaiting(RunError):
    """No agent serves a capability the run needs now; it goes back to the queue, to be tried
    again after ``retry_after`` seconds when the agents said so, else the engine's backoff."""

    code = "waiting"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        node: str | None = None,
        retry_after: float | None = None,
        capability: str | None = None,
    ):
        super().__init__(message, node=node)
        self.retry_after = retry_after
        #: The capability no agent served or could take (None: waiting for another reason):
        #: recorded on the run (``waitingFor``), which the queue figures count it under.
        self.capability = capability


class OutcomeUnknown(AgentRuntimeError, RuntimeError):
    """A call of a tool that is not idempotent may or may not have taken effect (its agent went
    away, or it timed out): a person decides, the engine does not call again on its own."""

    code = "outcome_unknown"
