"""The agents' HTTP endpoints: each request's caller is authenticated as on every other route
(a 401 with its challenge before any JSON-RPC), and the Workflow in the path must be one the
caller may start runs of (the same 404 as a missing one otherwise: no card, no calls); then
the card is served, or the SDK's dispatcher answers the JSON-RPC with ``handler.Agents``."""

from __future__ import annotations

import json

from a2a.server.context import ServerCallContext
from a2a.server.jsonrpc_models import InvalidRequestError, JSONParseError
from a2a.server.request_handlers.response_helpers import (
    agent_card_to_dict,
    build_error_response,
)
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.a2a_server.calls import KEY, Call
from agent_runtime.gateway.a2a_server.card import agent_card
from agent_runtime.gateway.a2a_server.handler import Agents
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.errors import answer
from agent_runtime.gateway.launch import Refused, no_workflow, runnable
from agent_runtime.spec import Workflow


class CallContexts(DefaultServerCallContextBuilder):
    """The SDK's call context, holding the ``Call`` the endpoint made for the request."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state[KEY] = request.scope[KEY]
        return context


#: One dispatcher for every agent: the handler keeps nothing between calls.
DISPATCHER = JsonRpcDispatcher(Agents(), CallContexts(), enable_v0_3_compat=True)


async def agent(gateway: Gateway, caller: Identity, namespace: str, name: str) -> Workflow:
    """The Workflow, when the caller may start runs of it and it is ready."""
    try:
        return await runnable(gateway, caller, namespace, name)
    except Refused as refused:
        if refused.code == "forbidden":  # may read its runs, not call it: no agent to them
            raise no_workflow(namespace, name) from None
        raise


async def called(request: Request) -> Call | Response:
    gateway: Gateway = request.app.state.gateway
    try:
        caller = await gateway.access.identify(request.headers.get("authorization"))
        params = request.path_params
        workflow = await agent(gateway, caller, params["namespace"], params["name"])
    except AgentRuntimeError as exc:
        return answer(exc)
    return Call(gateway, caller, workflow)


async def card(request: Request) -> Response:
    call = await called(request)
    if isinstance(call, Response):
        return call
    made = agent_card(
        call.workflow, str(request.base_url), authenticated=call.gateway.access.enabled
    )
    # each caller sees the agents they may call: no shared cache may keep one
    return JSONResponse(agent_card_to_dict(made), headers={"Cache-Control": "private, no-cache"})


#: Brackets in a body beyond which it may nest deeper than Python's JSON parser recurses.
NESTING = 500


async def too_deep(request: Request) -> bool:
    """Whether the body nests too deeply to parse (the SDK answers that as an internal error:
    it is the caller's, a parse error). The body is kept for the dispatcher to read again."""
    body = await request.body()
    if body.count(b"[") + body.count(b"{") <= NESTING:
        return False
    try:
        json.loads(body)
    except RecursionError:
        return True
    except ValueError:
        return False  # the dispatcher answers what does not parse
    return False


def json_body(request: Request) -> bool:
    """Whether the body is declared JSON. A page of another site can POST only form types
    without the browser asking first (and this gateway allows no other origin): on a gateway
    without authentication, that would start runs for whoever visits it."""
    declared = request.headers.get("content-type", "")
    return declared.split(";")[0].strip().lower() == "application/json"


async def rpc(request: Request) -> Response:
    call = await called(request)
    if isinstance(call, Response):
        return call
    if not json_body(request):
        refused = InvalidRequestError(message="Content-Type: expected application/json")
        return JSONResponse(build_error_response(None, refused))
    if await too_deep(request):
        return JSONResponse(
            build_error_response(None, JSONParseError(message="body: nested too deeply"))
        )
    request.scope[KEY] = call
    return await DISPATCHER.handle_requests(request)
