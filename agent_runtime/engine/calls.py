"""Tool calls the engine makes itself, once per call of a run: tools that are not idempotent.

Before such a call the engine writes a ``tool.started`` event, after it a ``tool.finished`` event
with the result: both in the run store, awaited, under the call's durable key (node, visit, call).
A node that runs again (retried, resumed, taken over after a crash) finds the result there instead
of calling again; one that finds the start without the result cannot know whether the call took
effect, and asks a person (``Gate.unknown_outcome``) rather than repeat it blindly.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agent_runtime.engine.context import RunContext
from agent_runtime.engine.errors import RunWaiting

STARTED, FINISHED = "tool.started", "tool.finished"
#: The call failed (the agent said so) or was never sent (no agent): calling again is safe, or
#: what a person asked for by retrying the run.
FAILED, UNSENT = "tool.failed", "tool.unsent"


async def recorded_call(
    ctx: RunContext,
    key: str,
    tool: str,
    call: Callable[[], Awaitable[Any]],
    *,
    again: bool = False,
) -> dict[str, Any]:
    """``{"done": result}`` of the call under ``key`` (made now, or recorded before), or
    ``{"unknown": true}`` when an earlier try started it and left no result. ``again``: make the
    call whatever is recorded (a person said so)."""
    if not again:
        started = False
        for event in await ctx.store.list_events(ctx.run_id):
            if event.data.get("key") != key:
                continue
            if event.type == FINISHED:
                return {"done": event.data.get("result")}
            started = event.type == STARTED
        if started:
            return {"unknown": True}
    await ctx.emit(STARTED, {"key": key, "tool": tool})
    try:
        result = await call()
    except RunWaiting:
        await ctx.emit(UNSENT, {"key": key, "tool": tool})
        raise
    except Exception as exc:
        await ctx.emit(FAILED, {"key": key, "tool": tool, "error": str(exc)})
        raise
    await ctx.emit(FINISHED, {"key": key, "tool": tool, "result": result})
    return {"done": result}
