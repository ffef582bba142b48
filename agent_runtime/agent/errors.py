"""Every answer but a result is JSON ``{"error": {"code", "message", "details"}}``; no stack trace.

The status and code tell the engine's ``HttpDispatcher`` what to do next:

=====  ===================  =============================================================
 429   ``busy``             at maxConcurrentTasks: try another agent (``Retry-After``)
 503   ``draining``         shutting down: try another agent
 503   ``task_failed``      the task ran and failed; retryable (``X-Retryable: true``)
 422   ``task_permanent``   the task ran and failed for good (bad configuration, refusal)
 422   ``invalid_request``  the body is not a node task; ``details`` names the fields
 409   ``capability_not_served``  this agent's pool does not serve the task's capability
=====  ===================  =============================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agent_runtime.errors import AgentRuntimeError, http_status
from agent_runtime.executors import PermanentTaskError, TaskError, TaskNotStarted

log = logging.getLogger(__name__)

RETRYABLE = {"X-Retryable": "true"}


class AgentError(AgentRuntimeError):
    """A refusal of a task, before it runs; its ``code`` (and so its status) is stable."""

    code = "agent_error"

    def __init__(
        self, message: str, *, details: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.details = details
        self.headers = headers or {}


class Busy(AgentError):
    code = "busy"
    retryable = True


class Draining(AgentError):
    code = "draining"
    retryable = True


class CapabilityNotServed(AgentError):
    code = "capability_not_served"


def error(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": "body", "message": f"{e['msg']} at position {e['loc'][-1]}"}
            if e["type"] == "json_invalid"
            else {"field": _field(tuple(e["loc"])), "message": e["msg"]}
            for e in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return error(422, "invalid_request", message, problems)

    @app.exception_handler(AgentError)
    async def refused(_: Request, exc: AgentError) -> JSONResponse:
        return error(http_status(exc.code), exc.code, str(exc), exc.details, exc.headers)

    # PermanentTaskError is a TaskError: Starlette picks the handler of the nearest class.
    @app.exception_handler(PermanentTaskError)
    async def task_permanent(_: Request, exc: PermanentTaskError) -> JSONResponse:
        return error(422, "task_permanent", str(exc) or "the task failed")

    @app.exception_handler(TaskNotStarted)
    async def task_not_started(_: Request, exc: TaskNotStarted) -> JSONResponse:
        return error(503, exc.code, str(exc), headers=RETRYABLE)

    @app.exception_handler(TaskError)
    async def task_failed(_: Request, exc: TaskError) -> JSONResponse:
        return error(503, "task_failed", str(exc) or "the task failed", headers=RETRYABLE)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %r", exc)  # the server logs the traceback
        return error(500, "internal", "internal error; see the agent's log", headers=RETRYABLE)
