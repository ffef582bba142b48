"""A human node answered through MCP elicitation, where the client supports it.

An approval (a gated tool call, a limit reached) is asked the same way, as yes or no and a
reason. On the 2026-07-28 protocol a server cannot send requests: the call returns an
``InputRequiredResult`` holding the elicitation, with the run id as its ``requestState``, and the
client calls again with the answer. On the earlier (session) protocol the server sends
``elicitation/create`` on the call's own stream and waits. Either way the answer resumes the run
as ``POST /v1/runs/{id}/resume`` (or ``/approve``) would, with the caller's ``update``
permission.
"""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agent_runtime.auth import Identity
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import Refused
from agent_runtime.gateway.mcp_server.errors import bad_arguments, problems
from agent_runtime.gateway.mcp_server.waiting import last_seq
from agent_runtime.spec.run_input import InputError
from agent_runtime.stores import RunRecord

#: An approval asked by a form: yes or no for every call that waits, and why.
APPROVAL_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "description": "Let what waits go on"},
        "reason": {"type": "string", "description": "Why (recorded on the run)"},
    },
    "required": ["approved"],
}
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
    """The elicitation of what the run waits for (a human node's fields, or an approval); None
    when a form cannot ask it."""
    asked = run.interrupt or {}
    if approval(run):
        return _elicit(str(asked.get("message") or "Approve?"), APPROVAL_FORM)
    fields = asked.get("fields")
    if asked.get("kind") != "input" or not isinstance(fields, dict):
        return None
    if not all(isinstance(s, dict) and s.get("type") in PRIMITIVE for s in fields.values()):
        return None
    prompt = str(asked.get("prompt") or f"The run {run.id} waits for input")
    return _elicit(prompt, {"type": "object", "properties": fields, "required": list(fields)})


def _elicit(message: str, schema: dict[str, Any]) -> types.ElicitRequest:
    return types.ElicitRequest(
        params=types.ElicitRequestFormParams(message=message, requested_schema=schema)
    )


def approval(run: RunRecord) -> bool:
    """Whether the run waits for an approval (a gated tool call, a limit), not a human node."""
    return (run.interrupt or {}).get("kind") == "approval"


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
    if approval(run):
        try:
            decision = ApprovalInput.model_validate(given)
        except ValidationError as exc:
            raise bad_arguments(problems(exc, prefix), prefix="") from None
        await gateway.engine.queue_approval(run.id, decision, by=actor(caller))
    else:
        try:
            await gateway.engine.queue_resume(run.id, given, by=actor(caller))
        except InputError as exc:
            fields = [
                {**d, "field": prefix + d["field"].removeprefix("input.")} for d in exc.details
            ]
            raise bad_arguments(fields, prefix="") from None
    gateway.worker.wake()
    return after


def accepted(answer: types.ElicitResult, run: RunRecord) -> dict[str, Any] | None:
    """The values a person gave, or None when they declined or dismissed the form. An approval
    names the request it was asked for: if the run waits for another by now, nothing is decided."""
    if answer.action != "accept":
        return None
    given = {k: v for k, v in (answer.content or {}).items() if v is not None}
    return given | {"request": (run.interrupt or {}).get("id")} if approval(run) else given
