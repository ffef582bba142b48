"""The run event stream as bytes on the wire: numbered events, LF line ends, keep-alive comments
while a run is quiet, the end at ``run.finished``, and a rejoin from an event number."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agent_runtime.gateway import events
from agent_runtime.stores import RunStatus, RunStore, open_store
from tests.sse import messages
from tests.stores.helpers import make_run

QUIET = 0.05


def app(store: RunStore) -> Starlette:
    async def stream(request: Request) -> Response:
        after = int(request.query_params.get("after", "0"))
        return events.response(store, "run-1", after=after, keepalive_seconds=QUIET)

    return Starlette(routes=[Route("/events", stream)])


async def test_a_quiet_run_gets_keep_alives_then_its_events_until_it_finishes(
    tmp_path: Path,
) -> None:
    async with open_store(f"sqlite:///{tmp_path}/runs.db") as store:
        await store.create_run(make_run("run-1"))
        await store.transition("run-1", RunStatus.RUNNING)
        await store.append_event("run-1", "run.started", {})
        await store.append_event("run-1", "node.started", {"node": "a"})

        async def later() -> None:
            await asyncio.sleep(10 * QUIET)
            await store.append_event("run-1", "node.finished", {"node": "a"})
            await store.transition("run-1", RunStatus.SUCCEEDED)
            await store.append_event("run-1", "run.finished", {"status": "succeeded"})

        transport = httpx.ASGITransport(app=app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            writer = asyncio.create_task(later())
            answer = await client.get("/events")
            await writer
            rejoined = await client.get("/events", params={"after": "2"})

    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["x-accel-buffering"] == "no"
    assert "\r" not in answer.text
    sent = messages(answer.text)
    assert {"": "keep-alive"} in sent
    numbered = [b for b in sent if "id" in b]
    assert [(b["id"], b["event"]) for b in numbered] == [
        ("1", "run.started"),
        ("2", "node.started"),
        ("3", "node.finished"),
        ("4", "run.finished"),
    ]
    assert json.loads(numbered[1]["data"])["node"] == "a"
    assert json.loads(numbered[3]["data"])["runId"] == "run-1"
    assert sent[-1] == numbered[-1]  # nothing after the end
    assert [b["id"] for b in messages(rejoined.text) if "id" in b] == ["3", "4"]
