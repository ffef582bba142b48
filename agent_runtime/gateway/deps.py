"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent_runtime.auth import Identity
from agent_runtime.gateway.components import Gateway


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(_gateway)]

#: Declares the bearer scheme in the OpenAPI document; the header is parsed strictly by ``auth``.
_bearer = HTTPBearer(auto_error=False, description="A Kubernetes or OpenID Connect token")


async def _caller(
    request: Request,
    gateway: GatewayDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Identity:
    return await gateway.access.identify(request.headers.get("authorization"))


CallerDep = Annotated[Identity, Depends(_caller)]


#: JSON escapes of what no store keeps: a UTF-16 surrogate (the only way a body decoded as
#: UTF-8 can hold one) and NUL (PostgreSQL's text and jsonb refuse it).
_UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")
NOT_UNICODE = "not valid Unicode text"
NUL = "holds a NUL character (U+0000)"


async def storable_text(request: Request) -> None:
    """Refuses text no run store can keep, in the path, the query or a JSON body, as a 422 naming
    where: a lone surrogate (``"\\ud800"``, valid JSON but no text: a 500 from deep inside) and
    NUL (PostgreSQL refuses it, and its error was a misleading 503 store_unavailable)."""
    for part, params in (("path", request.path_params), ("query", request.query_params)):
        for name, value in params.items():
            if isinstance(value, str) and "\x00" in value:
                raise _refused((part, name), NUL)
    raw = await request.body()
    if not _UNSTORABLE_ESCAPE.search(raw):
        return
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return  # FastAPI answers what does not parse
    if (found := _unstorable(body)) is not None:
        where, message = found
        raise _refused(("body", *where), message)


def _refused(loc: tuple[str | int, ...], message: str) -> RequestValidationError:
    return RequestValidationError([{"type": "string_unstorable", "loc": loc, "msg": message}])


def _problem(text: str) -> str | None:
    if _printable(text) != text:
        return NOT_UNICODE
    return NUL if "\x00" in text else None


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode()


def _unstorable(body: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where the first string (or key) no store keeps is, and why; iterative, for any depth."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if (problem := _problem(value)) is not None:
                return path, problem
        elif isinstance(value, dict):
            for key, item in value.items():
                if (problem := _problem(key)) is not None:
                    return (*path, _printable(key).replace("\x00", "\\x00")), problem
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
    return None
