"""Every error as JSON ``{"error": {"code", "message", "details"}}``; never a stack trace.

The package's own errors (``AgentRuntimeError``) answer with their stable code and the status
``agent_runtime.errors.HTTP_STATUS`` gives it: 4xx the caller's fault (422 naming the bad
fields), 5xx the gateway's or its store's. What FastAPI and Starlette raise is answered the same
way, under the codes of that table.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agent_runtime.auth import Unauthenticated
from agent_runtime.errors import AgentRuntimeError, http_status

log = logging.getLogger(__name__)

#: The challenge of a 401 (RFC 6750).
CHALLENGE = 'Bearer realm="configurable-agents"'


def error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def answer(exc: AgentRuntimeError) -> JSONResponse:
    """One of the package's errors as the API answers it (a 401 with its challenge)."""
    status = http_status(exc.code)
    if status >= 500:
        log.error("%s: %s", exc.code, exc)
    response = error(status, exc.code, str(exc), exc.details)
    if isinstance(exc, Unauthenticated):
        given = ', error="invalid_token"' if exc.token_given else ""
        response.headers["WWW-Authenticate"] = CHALLENGE + given
    if (retry_after := getattr(exc, "retry_after", None)) is not None:
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
    return response


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def _invalid_request(message: str, problems: list[dict[str, str]]) -> JSONResponse:
    return error(http_status("invalid_request"), "invalid_request", message, problems)


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(_field(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return _invalid_request(message, problems)

    @app.exception_handler(AgentRuntimeError)
    async def known(_: Request, exc: AgentRuntimeError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's answer to a body it cannot decode (not UTF-8, or nested deeper than
            # Python's recursion limit): a 422 naming the body, like any JSON that does not parse
            deep = isinstance(exc.__cause__, RecursionError)
            message = "nested too deeply" if deep else "not JSON (UTF-8)"
            return _invalid_request(f"body: {message}", [_problem("body", message)])
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # a 405's Allow (RFC 9110 requires it)
        return response

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %r", exc)
        log.debug("traceback", exc_info=exc)
        return error(500, "internal", "internal error; see the gateway's log")
