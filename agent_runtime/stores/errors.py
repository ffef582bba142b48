"""What a store raises: every message is safe to show (no credentials)."""

from __future__ import annotations

from typing import Any

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.stores.records import RunStatus


class StoreError(AgentRuntimeError, RuntimeError):
    """The store failed or cannot be reached; the message is safe to show (no credentials)."""

    code = "store_unavailable"
    retryable = True
    #: Whether the call failed before anything of it reached the store (safe to send again).
    unsent = False


class InvalidCursor(StoreError, ValueError):
    """A listing's ``cursor`` is not one a listing gave: the caller's mistake, not the store's."""

    code = "invalid_cursor"
    retryable = False

    @property
    def details(self) -> Any:
        return [{"field": "cursor", "message": str(self)}]


class InvalidThreadUpdate(AgentRuntimeError, ValueError):
    """``update_thread`` given metadata or values a store cannot keep (not a JSON object)."""

    code = "invalid_request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.details = [{"field": field, "message": message}]


class Missing(KeyError):
    """A lookup that found nothing; its message reads as a sentence, not a quoted key."""

    def __str__(self) -> str:
        return str(self.args[0])


class RunNotFound(StoreError, Missing):
    code = "run_not_found"
    retryable = False

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id!r} not found")
        self.run_id = run_id


class InvalidTransition(StoreError):
    code = "conflict"
    retryable = False

    def __init__(self, run_id: str, current: RunStatus, wanted: RunStatus) -> None:
        super().__init__(f"run {run_id!r} is {current.value}; it cannot become {wanted.value}")
        self.current = current
        self.wanted = wanted


class ThreadNotFound(AgentRuntimeError, Missing):
    """No such thread (or, for a run, none in the run's namespace)."""

    code = "thread_not_found"

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"thread {thread_id!r} not found")
        self.thread_id = thread_id


class ThreadConflict(AgentRuntimeError):
    """The thread is not in a state for this: a run is active on it, its id is taken, or it
    belongs to another workflow. ``details`` name the thread (and the run holding it)."""

    code = "conflict"

    def __init__(self, thread_id: str, message: str, *, active_run: str | None = None) -> None:
        super().__init__(f"thread {thread_id!r} {message}")
        self.thread_id = thread_id
        self.active_run = active_run
        self.details = {"thread": thread_id, "activeRun": active_run}


class LeaseLost(StoreError):
    """A write on a run refused because the writing process no longer holds the run's lease
    (another took the run over, or it expired, or the run finished): nothing of it was stored.
    The process stops executing the run; trying again cannot succeed (``stores.fencing``)."""

    code = "conflict"
    retryable = False

    def __init__(self, run_id: str, owner: str) -> None:
        super().__init__(
            f"run {run_id!r}: {owner} no longer holds its lease; the write was refused"
        )
        self.run_id = run_id
        self.owner = owner
