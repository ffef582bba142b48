"""Every error as JSON ``{"error": {"code", "message", "details"}}``; never a stack trace.

The package's own errors (``AgentRuntimeError``) answer with their stable code; the status says
whose fault it is: 4xx the caller's (422 naming the bad fields), 5xx the gateway's or its store's.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agent_runtime.auth import Unauthenticated
from agent_runtime.engine.errors import InputError
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.stores import InvalidTransition, RunNotFound, StoreError
from agent_runtime.stores.errors import InvalidCursor

log = logging.getLogger(__name__)

#: Codes that are the caller's conflict with the run's state.
_CONFLICTS = {"not_interrupted", "interrupted", "conflict", "leased", "idempotency_conflict"}
#: HTTP status by code, for the codes that are not a failure of the gateway (500).
STATUS = {
    **dict.fromkeys(_CONFLICTS, 409),
    "invalid_input": 422,
    "invalid_spec": 422,
    "invalid_template": 422,
    "run_not_found": 404,
    "unauthenticated": 401,
    "auth_unavailable": 503,
    "store_unavailable": 503,
}


def error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status)


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        message = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
        return error(422, "invalid_request", message, problems)

    @app.exception_handler(InputError)
    async def invalid_input(_: Request, exc: InputError) -> JSONResponse:
        problems = [
            {"field": p.split(":", 1)[0], "message": p.split(":", 1)[-1].strip()}
            for p in exc.problems
        ]
        return error(422, "invalid_input", str(exc), problems)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        response = error(401, "unauthenticated", str(exc))
        challenge = 'Bearer realm="configurable-agents"'
        if exc.token_given:
            challenge += ', error="invalid_token"'
        response.headers["WWW-Authenticate"] = challenge
        return response

    @app.exception_handler(InvalidCursor)
    async def invalid_cursor(_: Request, exc: InvalidCursor) -> JSONResponse:
        return error(400, "invalid_request", str(exc), [{"field": "cursor", "message": str(exc)}])

    @app.exception_handler(RunNotFound)
    async def not_found(_: Request, exc: RunNotFound) -> JSONResponse:
        return error(404, "run_not_found", str(exc))

    @app.exception_handler(InvalidTransition)
    async def conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return error(409, "conflict", str(exc))

    @app.exception_handler(AgentRuntimeError)
    async def known(_: Request, exc: AgentRuntimeError) -> JSONResponse:
        status = STATUS.get(exc.code, 500)
        if status >= 500:
            log.error("%s: %s", exc.code, exc)
        return error(status, exc.code, str(exc), exc.details)

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return error(503, "store_unavailable", str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.__cause__ is not None:
            # FastAPI's answer to a body it cannot decode (not UTF-8, or nested deeper than
            # Python's recursion limit): a 422 naming the body, like any JSON that does not parse
            deep = isinstance(exc.__cause__, RecursionError)
            message = "nested too deeply" if deep else "not JSON (UTF-8)"
            return error(422, "invalid_request", f"body: {message}", [_problem("body", message)])
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})  # a 405's Allow (RFC 9110 requires it)
        return response

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %r", exc)
        log.debug("traceback", exc_info=exc)
        return error(500, "internal", "internal error; see the gateway's log")
