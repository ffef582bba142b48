"""Server-Sent Events of a run, read from the store so a stream can be left and rejoined."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from agent_runtime.stores import RunEvent, RunStore

KEEPALIVE_SECONDS = 15.0
END_EVENTS = {"run.finished"}


def format_event(event: RunEvent) -> str:
    data = json.dumps({"runId": event.run_id, "at": event.at.isoformat(), **event.data})
    return f"id: {event.seq}\nevent: {event.type}\ndata: {data}\n\n"


async def stream(
    store: RunStore, run_id: str, *, after: int = 0, poll: float = 0.2
) -> AsyncIterator[str]:
    """Every event after ``after`` (the client's Last-Event-ID), until the run finishes."""
    last_sent = time.monotonic()
    while True:
        events = await store.list_events(run_id, after=after)
        for event in events:
            after = event.seq
            yield format_event(event)
            if event.type in END_EVENTS:
                return
        if events:
            last_sent = time.monotonic()
            continue  # more may be waiting: read again before sleeping
        if (await store.get_run(run_id)).status.finished:
            # The status moves before the last event is written: one more read catches it.
            for event in await store.list_events(run_id, after=after):
                yield format_event(event)
            return
        if time.monotonic() - last_sent > KEEPALIVE_SECONDS:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"
        await asyncio.sleep(poll)
