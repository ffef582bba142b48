"""A human node answered through MCP elicitation, where the client supports it.

On the 2026-07-28 protocol a server cannot send requests: the call returns an
``InputRequiredResult`` holding the elicitation, with the run id as its ``requestState``, and the
client calls again with the answer. On the earlier (session) protocol the server sends
``elicitation/create`` on the call's own stream and waits. Either way the answer resumes the run
as ``POST /v1/runs/{id}/resume`` would, with the caller's ``update`` permission.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agent_runtime.auth import Identity
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import Refused
from agent_runtime.gateway.mcp_server.errors import bad_arguments
from agent_runtime.gateway.mcp_server.waiting import last_seq
from agent_runtime.spec.run_input import InputError
from agent_runtime.stores import RunRecord

#: The key of the one input request a call returns.
ANSWER = "answer"
#: What an elicitation form may ask for: flat fields of these types (the MCP specification's
#: restricted schema); a node asking for more is answered with ``resume_run``.
PRIMITIVE = {"string", "number", "integer", "boolean"}


def modern(ctx: ServerRequestContext[Any, Any]) -> bool:
    return ctx.protocol_version in MODERN_PROTOCOL_VERSIONS


def can_elicit(ctx: ServerRequestContext[Any, Any]) -> bool:
    capabilities = ctx.session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return False
    return modern(ctx) or ctx.session.can_send_request


def form(run: RunRecord) -> types.ElicitRequest | None:
    """The elicitation of what the run's human node asks; None when a form cannot ask it."""
    asked = run.interrupt or {}
    fields = asked.get("fields")
    if asked.get("kind") != "input" or not isinstance(fields, dict):
        return None
    if not all(isinstance(s, dict) and s.get("type") in PRIMITIVE for s in fields.values()):
        return None
    prompt = str(asked.get("prompt") or f"The run {run.id} waits for input")
    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(
            message=prompt,
            requested_schema={"type": "object", "properties": fields, "required": list(fields)},
        )
    )


async def ask(
    ctx: ServerRequestContext[Any, Any], request: types.ElicitRequest
) -> types.ElicitResult:
    """Elicit on the call's own stream (the session protocol) and wait for the answer."""
    return await ctx.session.send_request(
        request,
        types.ElicitResult,
        metadata=ServerMessageMetadata(related_request_id=ctx.request_id),
    )


async def may_answer(gateway: Gateway, caller: Identity, run: RunRecord) -> bool:
    return await gateway.access.may(caller, "update", run.namespace, run.workflow)


async def answer_run(
    gateway: Gateway, caller: Identity, run: RunRecord, given: dict[str, Any], *, prefix: str
) -> int:
    """Resume the run with ``given``; the last event before it, to report what follows.
    ``prefix`` is how the arguments name the answer's fields (``input.`` for ``resume_run``)."""
    if not await may_answer(gateway, caller, run):
        raise Refused("forbidden", f"you may not resume run {run.id}")
    after = await last_seq(gateway, run.id)
    try:
        await gateway.engine.queue_resume(run.id, given, by=actor(caller))
    except InputError as exc:
        fields = [{**d, "field": prefix + d["field"].removeprefix("input.")} for d in exc.details]
        raise bad_arguments(fields, prefix="") from None
    gateway.worker.wake()
    return after


def accepted(answer: types.ElicitResult) -> dict[str, Any] | None:
    """The values a person gave, or None when they declined or dismissed the form."""
    if answer.action != "accept":
        return None
    return {k: v for k, v in (answer.content or {}).items() if v is not None}
