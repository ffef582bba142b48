"""The gateway's refusals as A2A errors: JSON-RPC codes, the Runs API's stable code in ``data``.

Bad input (a field of the message, a missing task) is invalid params (-32602) naming the
field; a task that is over is not cancelable (-32002); what the gateway or its store is at fault
for is an internal error (-32603) without a trace; any other refusal is an invalid request
(-32600). The SDK answers ``A2AError`` as it is and anything else as an internal error.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    InvalidRequestError,
    TaskNotFoundError,
)

from agent_runtime.errors import AgentRuntimeError, http_status
from agent_runtime.gateway.deps import _unstorable as unstorable  # the other routes' own check
from agent_runtime.spec.run_input import InputError

PARAMS_CODES = {"invalid_input", "invalid_request", "invalid_cursor", "thread_not_found"}


def bad_params(problems: list[dict[str, str]], *, code: str = "invalid_input") -> A2AError:
    """Invalid params naming each field at fault, as the SDK's ``data.errors`` carries them."""
    message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return InvalidParamsError(message, data={"code": code, "errors": problems})


def bad_field(field: str, message: str) -> A2AError:
    return bad_params([{"field": field, "message": message}], code="invalid_request")


def no_task(task_id: str) -> A2AError:
    """A task that does not exist, or that the caller may not see through this agent."""
    return TaskNotFoundError(f"no task {task_id}", data={"code": "run_not_found"})


def input_problems(exc: InputError, prefix: str) -> list[dict[str, str]]:
    """The fields of an input error as the message names them (``topic``, not ``input.topic``)."""
    return [
        {"field": prefix + d["field"].removeprefix("input."), "message": d["message"]}
        for d in exc.details
    ]


def storable(value: Any, where: str = "") -> None:
    """Refuse text no run store keeps (a lone surrogate, NUL), naming where it is (``topic``
    in an input or an answer, as their other errors name it)."""
    found = unstorable(value)
    if found is None:
        return
    path, message = found
    field = where + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    field = field.lstrip(".") or "params"
    raise bad_params([{"field": field, "message": message}], code="invalid_request")


def as_a2a(exc: AgentRuntimeError) -> A2AError:
    if isinstance(exc, InputError):
        return bad_params(input_problems(exc, ""))
    data: dict[str, Any] = {"code": exc.code}
    if exc.details is not None:
        data["details"] = exc.details
    if (retry_after := getattr(exc, "retry_after", None)) is not None:
        data["retryAfter"] = retry_after
    if exc.code == "run_not_found":
        return TaskNotFoundError(str(exc), data=data)
    if http_status(exc.code) >= 500:
        return InternalError(str(exc), data=data)
    if exc.code in PARAMS_CODES:
        return InvalidParamsError(str(exc), data=data)
    return InvalidRequestError(str(exc), data=data)


@contextmanager
def a2a_errors() -> Iterator[None]:
    """Raise the package's errors inside as A2A errors."""
    try:
        yield
    except AgentRuntimeError as exc:
        raise as_a2a(exc) from None


__all__ = ["a2a_errors", "bad_field", "bad_params", "no_task"]
