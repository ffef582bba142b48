"""``/mcp`` as an ASGI endpoint: the caller is authenticated here, from the request's
``Authorization`` header as on every other route (a 401 with its challenge before any MCP is
spoken), then the ``mcp`` library's Streamable HTTP session manager answers.

Each app gets its own session manager, started in the app's lifespan (a manager runs once).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.errors import answer

#: The scope key a request's ``Caller`` is kept under, for the MCP handlers to read.
SCOPE_KEY = "configurable_agents.mcp"


@dataclass
class Caller:
    """Who sent an MCP request, and whether they hung up on it (a 2026-07-28 client cancels a
    call by closing its response stream)."""

    identity: Identity
    left: bool = False


@dataclass
class Sessions:
    manager: StreamableHTTPSessionManager
    #: Set as the gateway stops: a call cut short then leaves its run running.
    closing: bool = False


def sessions_of(app: FastAPI) -> Sessions:
    sessions: Sessions = app.state.mcp
    return sessions


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


def caller_of(request: Request) -> Caller:
    caller: Caller = request.scope[SCOPE_KEY]
    return caller


def lifespan_for(
    serve: Callable[[FastAPI], Server],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The MCP server ``serve`` makes for an app, answering while the app runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # stateful sessions (the 2025 protocol) idle out after the library's default
        sessions = Sessions(StreamableHTTPSessionManager(app=serve(app)))
        app.state.mcp = sessions
        async with sessions.manager.run():
            try:
                yield
            finally:
                sessions.closing = True

    return lifespan


class Endpoint:
    """The ASGI app at ``/mcp``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        gateway = gateway_of(request)
        try:
            identity = await gateway.access.identify(request.headers.get("authorization"))
        except AgentRuntimeError as exc:  # 401 with its challenge, or 503: none asked
            await answer(exc)(scope, receive, send)
            return
        caller = Caller(identity)
        scope[SCOPE_KEY] = caller

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                caller.left = True
            return message

        await sessions_of(request.app).manager.handle_request(scope, watched, send)
