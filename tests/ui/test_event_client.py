"""The dashboard reading a run's event stream: events as sent (keep-alives dropped, either line
end), rejoining with ``Last-Event-ID``, gateway errors as GatewayError, and the run page's own
keep-alives while the run is quiet."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_runtime.ui import live
from agent_runtime.ui.client import GatewayClient, GatewayError, SseEvent

STREAM = (
    ": keep-alive\n\n"
    'id: 1\nevent: node.started\ndata: {"node": "a"}\n\n'
    ": keep-alive\r\n\r\n"
    'id: 2\r\nevent: run.finished\r\ndata: {"status": "succeeded"}\r\n\r\n'
)


T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """On a thread of its own: Playwright keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def client_of(app: Starlette) -> GatewayClient:
    return GatewayClient("http://gw", transport=httpx.ASGITransport(app=app))


def gateway(body: str, *, media_type: str = "text/event-stream", delay: float = 0) -> Starlette:
    """Streams ``body`` after ``delay``; ``seen`` keeps each stream request's Last-Event-ID."""
    seen: list[str | None] = []

    async def stream(request: Request) -> Response:
        seen.append(request.headers.get("last-event-id"))

        async def chunks() -> AsyncIterator[str]:
            await asyncio.sleep(delay)
            yield body

        return StreamingResponse(chunks(), media_type=media_type)

    async def one_run(request: Request) -> Response:
        found = {"id": "run-1", "namespace": "default", "workflow": "greet", "status": "succeeded"}
        return JSONResponse(found)

    async def workflows(request: Request) -> Response:
        return JSONResponse({"items": []})

    app = Starlette(
        routes=[
            Route("/v1/runs/{run_id}/events", stream),
            Route("/v1/runs/{run_id}", one_run),
            Route("/v1/workflows", workflows),
        ]
    )
    app.state.seen = seen
    return app


def events(client: GatewayClient, after: int = 0) -> list[SseEvent]:
    async def read() -> list[SseEvent]:
        return [event async for event in client.events("run-1", after=after)]

    return run(read())


def test_events_arrive_parsed_without_keep_alives_and_rejoin_sends_the_last_id() -> None:
    app = gateway(STREAM)
    client = client_of(app)
    assert events(client) == [
        SseEvent("1", "node.started", {"node": "a"}),
        SseEvent("2", "run.finished", {"status": "succeeded"}),
    ]
    events(client, after=1)
    assert app.state.seen == [None, "1"]


def test_an_error_answer_or_a_stream_that_is_none_raises_gateway_error() -> None:
    async def refused(request: Request) -> Response:
        body = {"error": {"code": "run_not_found", "message": "no run run-1"}}
        return JSONResponse(body, status_code=404)

    not_found = client_of(Starlette(routes=[Route("/v1/runs/{run_id}/events", refused)]))
    with pytest.raises(GatewayError) as missing:
        events(not_found)
    assert (missing.value.status, missing.value.code) == (404, "run_not_found")

    with pytest.raises(GatewayError) as html:
        events(client_of(gateway("<html>", media_type="text/html")))
    assert (html.value.status, html.value.code) == (502, "gateway_unreachable")
    assert "text/event-stream" in html.value.message

    with pytest.raises(GatewayError) as garbled:
        events(client_of(gateway("id: 1\nevent: node.started\ndata: {not json\n\n")))
    assert (garbled.value.status, garbled.value.code) == (502, "invalid_event")


def test_the_run_page_gets_keep_alives_while_the_gateway_is_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "KEEPALIVE_SECONDS", 0.02)
    client = client_of(gateway(STREAM, delay=0.3))

    def render(found: dict[str, Any], tracker: Any, problem: GatewayError | None) -> str:
        return json.dumps({"status": found["status"], "problem": problem and problem.code})

    async def read() -> list[str]:
        return [m async for m in live.feed(client, "run-1", render, lambda _: ("k", "<form>"))]

    sent = run(read())
    first_update = next(i for i, m in enumerate(sent) if m.startswith("event: update"))
    assert first_update > 0 and set(sent[:first_update]) == {": keep-alive\n\n"}
    assert sent[first_update] == 'event: update\ndata: {"status": "succeeded", "problem": null}\n\n'
    assert sent[-1] == "event: done\ndata: \n\n"
