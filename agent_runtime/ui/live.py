"""The run page's live feed: the gateway's event stream, re-rendered as HTML for htmx's SSE.

Each gateway event (or burst of events) becomes one ``update`` message holding the run's whole
body, re-read from the Runs API, so the browser only swaps HTML; ``done`` tells it to hang up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from agent_runtime.ui.client import GatewayClient, GatewayError, SseEvent
from agent_runtime.ui.state_tracker import StateTracker

log = logging.getLogger(__name__)

#: Events arriving within this window are rendered once.
COALESCE_SECONDS = 0.05
#: A quiet run's page gets a keep-alive comment this often.
KEEPALIVE_SECONDS = 15.0
_END = object()

#: (run, tracker, problem) -> the run body's HTML.
Render = Callable[[dict[str, Any], StateTracker | None, GatewayError | None], str]
#: run -> (key, HTML) of its action forms; sent only when the key changes.
RenderActions = Callable[[dict[str, Any]], tuple[str, str]]


def sse_message(event: str, html: str) -> str:
    data = "\n".join(f"data: {line}" for line in html.splitlines() or [""])
    return f"event: {event}\n{data}\n\n"


async def tracker_for(client: GatewayClient, run: dict[str, Any]) -> StateTracker:
    """A tracker over the workflow's declared fields (plain replace if the workflow is gone)."""
    try:
        workflow = await client.workflow(run["namespace"], run["workflow"])
        fields: dict[str, Any] = workflow.get("state") or {}
    except GatewayError:
        fields = {}
    return StateTracker(fields, dict(run.get("input") or {}))


async def replay(client: GatewayClient, run: dict[str, Any]) -> StateTracker:
    """The state after each step of a finished run (its event stream ends by itself)."""
    tracker = await tracker_for(client, run)
    async for event in client.events(run["id"]):
        tracker.feed(event.event, event.data, _seq(event))
    return tracker


def _seq(event: SseEvent) -> int | None:
    return int(event.id) if event.id and event.id.isdigit() else None


async def feed(
    client: GatewayClient,
    run_id: str,
    render: Render,
    actions: RenderActions,
    *,
    shown_actions: str = "",
) -> AsyncIterator[str]:
    """SSE messages for the run page; ``shown_actions`` is the key of the forms it shows."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in client.events(run_id):
                await queue.put(event)
        except GatewayError as exc:
            await queue.put(exc)
        await queue.put(_END)

    try:
        run = await client.run(run_id)
    except GatewayError as exc:
        yield sse_message("update", render({"id": run_id, "status": "unknown"}, None, exc))
        yield sse_message("done", "")
        return
    tracker = await tracker_for(client, run)
    reader = asyncio.create_task(pump())
    try:
        finished = False
        while not finished:
            try:
                batch = [await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)]
            except TimeoutError:
                yield ": keep-alive\n\n"  # so that proxies keep a quiet page's stream open
                continue
            await asyncio.sleep(COALESCE_SECONDS)
            while not queue.empty():
                batch.append(queue.get_nowait())
            problem: GatewayError | None = None
            changed = False
            steps = False  # an answer's text alone changes nothing the Runs API shows
            for item in batch:
                if item is _END:
                    finished = True
                elif isinstance(item, GatewayError):
                    problem = item
                elif isinstance(item, SseEvent):
                    tracker.feed(item.event, item.data, _seq(item))
                    changed = True
                    steps = steps or item.event != "node.delta"
            if not changed and problem is None:
                continue
            if steps or problem is not None:
                try:
                    run = await client.run(run_id)
                except GatewayError as exc:
                    problem = exc
            yield sse_message("update", render(run, tracker, problem))
            key, html = actions(run)
            if key != shown_actions:
                shown_actions = key
                yield sse_message("actions", html)
        yield sse_message("done", "")
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
