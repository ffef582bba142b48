"""Waiting for a run on behalf of an MCP call: a progress notification per finished step, the
run's output as the tool's result, and the run cancelled when the caller cancels the call."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext

from agent_runtime.auth import Identity
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.events import follow
from agent_runtime.gateway.mcp_server.tools import RESUME
from agent_runtime.stores import RunRecord, RunStatus

log = logging.getLogger(__name__)


@dataclass
class Progress:
    """Steps finished so far in this call: MCP progress must only grow."""

    ctx: ServerRequestContext[Any, Any]
    steps: int = 0

    async def step(self, node: str) -> None:
        self.steps += 1
        await self.ctx.session.report_progress(self.steps, None, f"{node} finished")


async def last_seq(gateway: Gateway, run_id: str) -> int:
    """The run's last event so far: a call that takes a run up again reports only what follows."""
    events = await gateway.store.list_events(run_id)
    return events[-1].seq if events else 0


async def until_settled(gateway: Gateway, run_id: str, after: int, progress: Progress) -> int:
    """Report each step until the run finishes or waits for a person; the last event read."""
    async for event in follow(gateway.store, run_id, after=after, until_interrupted=True):
        after = event.seq
        if event.type == "node.finished":
            await progress.step(str(event.data.get("node") or "a step"))
    return after


def text(value: Any) -> list[types.ContentBlock]:
    return [types.TextContent(text=value if isinstance(value, str) else json.dumps(value))]


def outcome(run: RunRecord) -> types.CallToolResult:
    """A finished run as a tool result: its output fields, or its error with ``isError``."""
    if run.status == RunStatus.SUCCEEDED:
        output = run.output or {}
        return types.CallToolResult(content=text(output), structured_content=output)
    if run.status == RunStatus.CANCELLED:
        error = {"code": "cancelled", "message": f"the run {run.id} was cancelled"}
    else:
        error = {"code": "run_failed", "message": "the run failed", **(run.error or {})}
    return types.CallToolResult(
        content=text(f"{error['code']}: {error['message']}"),
        structured_content={"runId": run.id, "status": run.status.value, "error": error},
        is_error=True,
    )


def interrupted(run: RunRecord) -> types.CallToolResult:
    """A run waiting for a person, for a client that cannot ask one: what is asked, and how to
    answer it (``resume_run``)."""
    asked = run.interrupt or {}
    keep = ("kind", "id", "node", "prompt", "fields", "reason", "message", "calls")
    waits = {k: asked[k] for k in keep if k in asked}
    if asked.get("kind") == "approval":
        what = f"an approval: {asked.get('message')}"
        answer = "{approved: true|false, reason: ...}"
    else:
        what = f"input at node {asked.get('node')!r}: {asked.get('prompt')}"
        answer = "{...}, a value for each field asked for"
    message = (
        f"The run {run.id} waits for {what}. "
        f"Answer with the {RESUME} tool: {{run_id: {run.id!r}, input: {answer}}}."
    )
    return types.CallToolResult(
        content=text(message),
        structured_content={"runId": run.id, "status": "interrupted", "interrupt": waits},
    )


async def stop(gateway: Gateway, caller: Identity, run_id: str) -> None:
    """Cancel the run of a cancelled call, if it is still going and the caller may cancel it."""
    try:
        run = await gateway.store.get_run(run_id)
        if run.status.finished:
            return
        if not await gateway.access.may(caller, "update", run.namespace, run.workflow):
            log.info("mcp: call for run %s cancelled; the caller may not cancel the run", run_id)
            return
        await gateway.engine.cancel(run_id, by=actor(caller))
    except AgentRuntimeError as exc:  # finished meanwhile, or the store is away
        log.info("mcp: run %s not cancelled: %s", run_id, exc)
