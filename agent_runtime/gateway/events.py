"""Server-Sent Events of a run, read from the store so a stream can be left and rejoined.

sse-starlette frames the events, sends a keep-alive comment on its own clock and stops the stream
when the client hangs up or the server shuts down; this module chooses the events and the end.
A follower reads the store again every ``poll`` seconds, or at once when this process's engine
wrote an event of the run (``BELL``): a model's tokens reach a client as they are written when
the run executes on the replica the client reads from, within ``poll`` otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator

from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_runtime.stores import RunEvent, RunStatus, RunStore

KEEPALIVE_SECONDS = 15.0
END_EVENTS = {"run.finished"}
#: Lines end in LF alone (sse-starlette's default is CRLF), as they always have on this API.
SEPARATOR = "\n"


class EventBell:
    """Wakes the followers of a run in this process when its engine here writes an event."""

    def __init__(self) -> None:
        self._listening: dict[str, set[asyncio.Event]] = {}

    def ring(self, event: RunEvent) -> None:
        """An engine listener: the run's followers read the store again now."""
        for rung in self._listening.get(event.run_id, ()):
            rung.set()

    @contextlib.contextmanager
    def listening(self, run_id: str) -> Iterator[asyncio.Event]:
        """An event set by each ring for ``run_id`` within the block (clear it before reading)."""
        rung = asyncio.Event()
        self._listening.setdefault(run_id, set()).add(rung)
        try:
            yield rung
        finally:
            listening = self._listening.get(run_id, set())
            listening.discard(rung)
            if not listening:
                self._listening.pop(run_id, None)


#: The process's bell: the gateway's engine rings it (``Engine(listeners=[BELL.ring])``).
BELL = EventBell()


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
    with BELL.listening(run_id) as rung:
        while True:
            rung.clear()  # before reading: a write during the read rings again
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rung.wait(), poll)


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
