"""OpenAI's error object on the OpenAI routes: ``{"error": {"message", "type", "param",
"code"}}``, which the ``openai`` client raises as ``NotFoundError``, ``BadRequestError`` and so
on. The routes of this package use ``OpenAIRoute``, so a bad body or a refused call answers in
that shape while the rest of the gateway keeps its own."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from agent_runtime.errors import AgentRuntimeError, http_status

#: OpenAI's ``type`` for each status it answers with.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def openai_error(
    status: int, message: str, *, code: str, param: str | None = None, headers: Any = None
) -> JSONResponse:
    body = {
        "message": message,
        "type": _TYPES.get(status, "server_error"),
        "param": param,
        "code": code,
    }
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in loc if p != "body"]
    return ".".join(parts).replace(".[", "[") or "body"


def refused(exc: AgentRuntimeError) -> JSONResponse:
    status = http_status(exc.code)
    status = 400 if status == 422 else status  # OpenAI answers a bad request with 400
    details = exc.details if isinstance(exc.details, list) else []
    param = details[0].get("field") if details and isinstance(details[0], dict) else None
    if isinstance(param, str) and param.startswith("input."):
        param = param.removeprefix("input.")  # the Workflow's input is the request's messages
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(max(1, round(retry)))} if retry is not None else None
    return openai_error(status, str(exc), code=exc.code, param=param, headers=headers)


class OpenAIRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                first = exc.errors()[0]
                field = _field(tuple(first["loc"]))
                message = f"{field}: {first['msg']}"
                return openai_error(400, message, code="invalid_request", param=field)
            except AgentRuntimeError as exc:
                return refused(exc)

        return handler
