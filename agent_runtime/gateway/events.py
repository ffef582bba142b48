"""Server-Sent Events of a run, read from the store so a stream can be left and rejoined.

sse-starlette frames the events, sends a keep-alive comment on its own clock and stops the stream
when the client hangs up or the server shuts down; this module chooses the events and the end.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_runtime.stores import RunEvent, RunStatus, RunStore

KEEPALIVE_SECONDS = 15.0
END_EVENTS = {"run.finished"}
#: Lines end in LF alone (sse-starlette's default is CRLF), as they always have on this API.
SEPARATOR = "\n"


def sse_event(event: RunEvent) -> ServerSentEvent:
    data = json.dumps({"runId": event.run_id, "at": event.at.isoformat(), **event.data})
    return ServerSentEvent(data, event=event.type, id=str(event.seq), sep=SEPARATOR)


async def follow(
    store: RunStore,
    run_id: str,
    *,
    after: int = 0,
    poll: float = 0.2,
    until_interrupted: bool = False,
    ends_after: int = 0,
) -> AsyncIterator[RunEvent]:
    """Every event of a run after ``after``, as it is written, until the run finishes (or, with
    ``until_interrupted``, stops to wait for a person); events up to ``ends_after`` end
    nothing (the waits a resumed run has already left behind)."""
    ends = END_EVENTS | {"run.interrupted"} if until_interrupted else END_EVENTS
    while True:
        events = await store.list_events(run_id, after=after)
        for event in events:
            after = event.seq
            yield event
            if event.type in ends and event.seq > ends_after:
                return
        if events:
            continue  # more may be waiting: read again before sleeping
        status = (await store.get_run(run_id)).status
        if status.finished or (until_interrupted and status == RunStatus.INTERRUPTED):
            # The status moves before the last event is written: one more read catches it.
            for event in await store.list_events(run_id, after=after):
                yield event
            return
        await asyncio.sleep(poll)


async def events_after(
    store: RunStore, run_id: str, *, after: int = 0, poll: float = 0.2
) -> AsyncIterator[ServerSentEvent]:
    """Every event after ``after`` (the client's Last-Event-ID), until the run finishes."""
    async for event in follow(store, run_id, after=after, poll=poll):
        yield sse_event(event)


def keepalive() -> ServerSentEvent:
    return ServerSentEvent(comment="keep-alive", sep=SEPARATOR)


def response(
    store: RunStore, run_id: str, *, after: int = 0, keepalive_seconds: float = KEEPALIVE_SECONDS
) -> EventSourceResponse:
    """The stream of ``run_id``'s events after ``after``; proxies must neither cache nor buffer
    it (sse-starlette sets ``X-Accel-Buffering: no``)."""
    return EventSourceResponse(
        events_after(store, run_id, after=after),
        headers={"Cache-Control": "no-cache"},
        ping=keepalive_seconds,
        ping_message_factory=keepalive,
        sep=SEPARATOR,
    )
