"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent_runtime.auth import Identity
from agent_runtime.gateway.state import Gateway


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


#: A JSON escape of a UTF-16 surrogate: the only way a body decoded as UTF-8 can hold one.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


async def unicode_body(request: Request) -> None:
    """Refuses a JSON body holding a lone surrogate (``"\\ud800"``): valid JSON, but no text
    that can be stored or sent on, so it would fail deep inside (a 500) instead of a 422."""
    raw = await request.body()
    if not _SURROGATE_ESCAPE.search(raw):
        return
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return  # FastAPI answers what does not parse
    if (where := _lone_surrogate(body)) is not None:
        raise RequestValidationError(
            [{"type": "string_unicode", "loc": ("body", *where), "msg": "not valid Unicode text"}]
        )


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode()


def _lone_surrogate(body: Any) -> tuple[str | int, ...] | None:
    """Where the first string (or key) that is not valid Unicode is; iterative, for any depth."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(body, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            if _printable(value) != value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if _printable(key) != key:
                    return (*path, _printable(key))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
    return None
