"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
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
