"""A stand-in gateway for the credential tests: a real HTTP server (Starlette under uvicorn, in a
thread, on loopback) speaking the parts of the Runs API the dashboard and chat use.

It authenticates like the real one will (a bearer token per user, 401 with ``WWW-Authenticate``
without one), records the ``Authorization`` and ``Cookie`` of every request, and answers each user
with data naming them, so a page shows whose credential fetched it. Runs belong to the user in
their id (``run-alice-1``); a request for one user's run carrying another's token is recorded in
``crossed``. Each answer sets a cookie, which a client must never send back for someone else.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_runtime.testing.threaded import ThreadedServer
from tests.sse import message

ALICE = "Bearer alice-token"
BOB = "Bearer bob-token"
EXPIRED = "Bearer expired-token"
USERS = {ALICE: "alice", BOB: "bob"}
CHALLENGE = 'Bearer realm="recording-gateway"'
WHEN = "2026-01-01T00:00:00+00:00"
LATER = "2026-01-01T00:00:01.250000+00:00"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None
    cookie: str | None


@dataclass
class Record:
    seen: list[Seen] = field(default_factory=list)
    #: "<user> asked for <run id>" whenever a run was asked for with another user's token.
    crossed: list[str] = field(default_factory=list)
    #: Live runs whose event stream has been read to its end (they then read as succeeded).
    streamed: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def owner(run_id: str) -> str:
    return run_id.split("-")[1] if run_id.count("-") >= 2 else ""


def workflow(user: str) -> dict[str, Any]:
    return {
        "namespace": "default",
        "name": "greet",
        "source": "recording-gateway",
        "description": f"visible to {user}",
        "input": {"topic": {"type": "string"}},
        "output": ["answer"],
        "state": {
            "topic": {"type": "string", "zero": ""},
            "answer": {"type": "string", "zero": ""},
        },
        "capabilities": [],
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "ok"}],
    }


def run(run_id: str, status: str = "succeeded") -> dict[str, Any]:
    user = owner(run_id)
    done = status == "succeeded"
    return {
        "id": run_id,
        "namespace": "default",
        "workflow": "greet",
        "status": status,
        "input": {"topic": f"topic of {user}"},
        "output": {"answer": f"hello {user}"} if done else None,
        "error": None,
        "interrupt": None,
        "createdAt": WHEN,
        "startedAt": WHEN,
        "finishedAt": LATER if done else None,
        "steps": [
            {
                "node": "greet",
                "visit": 0,
                "attempt": 1,
                "status": "succeeded" if done else "running",
                "startedAt": WHEN,
                "finishedAt": LATER if done else None,
                "inputTokens": 3,
                "outputTokens": 5,
                "error": None,
            }
        ],
    }


def events(run_id: str) -> list[str]:
    step = {"node": "greet", "visit": 0, "attempt": 1}
    answer = {"answer": f"hello {owner(run_id)}"}
    items = [
        ("node.started", step),
        ("node.finished", {**step, "update": answer, "usage": {"inputTokens": 3}}),
        ("run.finished", {"status": "succeeded", "output": answer}),
    ]
    return [message(data, event=kind, number=n) for n, (kind, data) in enumerate(items, 1)]


Handler = Callable[[Request, str], Awaitable[Response]]


def create_app(record: Record) -> Starlette:
    numbers = itertools.count(1)

    def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            given = request.headers.get("authorization")
            with record.lock:
                record.seen.append(
                    Seen(request.method, request.url.path, given, request.headers.get("cookie"))
                )
            await asyncio.sleep(random.uniform(0, 0.02))  # interleave users' requests
            user = USERS.get(given or "")
            if user is None:
                answer: Response = _error(401, "unauthenticated", "a bearer token is required")
                invalid = ', error="invalid_token"' if given else ""
                answer.headers["WWW-Authenticate"] = CHALLENGE + invalid
                return answer
            run_id = request.path_params.get("run_id")
            if run_id and owner(run_id) in USERS.values() and owner(run_id) != user:
                with record.lock:
                    record.crossed.append(f"{user} asked for {run_id}")
            if run_id and owner(run_id) != user:
                return _error(404, "run_not_found", f"no run {run_id}")
            answer = await handler(request, user)
            answer.set_cookie("gateway-session", user)
            return answer

        return endpoint

    async def workflows(request: Request, user: str) -> Response:
        return JSONResponse({"items": [workflow(user)]})

    async def start(request: Request, user: str) -> Response:
        if user != "alice":
            return _error(403, "forbidden", f"{user} may not create runs of default/greet")
        run_id = f"run-{user}-live{next(numbers)}"
        return JSONResponse(run(run_id, "queued"), status_code=202)

    async def new_thread(request: Request, user: str) -> Response:
        body = await request.json()
        thread = {
            "id": f"thread-{user}-{next(numbers)}",
            "namespace": body["namespace"],
            "workflow": body["workflow"],
            "metadata": body.get("metadata", {}),
            "status": "idle",
            "createdAt": WHEN,
        }
        return JSONResponse(thread, status_code=201)

    async def runs(request: Request, user: str) -> Response:
        return JSONResponse({"items": [run(f"run-{user}-1")], "nextCursor": None})

    async def one_run(request: Request, user: str) -> Response:
        run_id = request.path_params["run_id"]
        live = "live" in run_id and run_id not in record.streamed
        return JSONResponse(run(run_id, "running" if live else "succeeded"))

    async def cancel(request: Request, user: str) -> Response:
        return JSONResponse(run(request.path_params["run_id"], "cancelled"))

    async def stream(request: Request, user: str) -> Response:
        run_id = request.path_params["run_id"]

        async def lines() -> AsyncIterator[str]:
            *steps, last = events(run_id)
            for item in steps:
                await asyncio.sleep(0.05 if "live" in run_id else 0)
                yield item
            record.streamed.add(run_id)  # before the last event: the run reads finished
            yield last

        return StreamingResponse(lines(), media_type="text/event-stream")

    return Starlette(
        routes=[
            Route("/v1/workflows", authenticated(workflows)),
            Route("/v1/workflows/default/greet/runs", authenticated(start), methods=["POST"]),
            Route("/v1/threads", authenticated(new_thread), methods=["POST"]),
            Route("/v1/runs", authenticated(runs)),
            Route("/v1/runs/{run_id}", authenticated(one_run)),
            Route("/v1/runs/{run_id}/cancel", authenticated(cancel), methods=["POST"]),
            Route("/v1/runs/{run_id}/events", authenticated(stream)),
        ]
    )


class RecordingGateway:
    """The app above under uvicorn in a background thread, for a ``with`` block."""

    def __init__(self) -> None:
        self.record = Record()
        self.url = ""
        self._server: ThreadedServer | None = None

    def requests(self) -> list[Seen]:
        with self.record.lock:
            return list(self.record.seen)

    def forget(self) -> None:
        with self.record.lock:
            self.record.seen.clear()
            self.record.crossed.clear()

    def __enter__(self) -> RecordingGateway:
        self._server = ThreadedServer(create_app(self.record), name="recording gateway")
        self.url = self._server.__enter__().url
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.__exit__(None, None, None)
