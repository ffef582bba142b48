"""One loopback server playing a model provider, a CRM and a search API, each careless with keys.

- ``POST /v1/chat/completions`` speaks the OpenAI protocol (the real ``openai`` SDK talks to it)
  and answers by the prompt (whole, or streamed when asked): a topic with ``fail`` gets a 401
  whose text holds the Authorization header it received (as some providers and proxies do); the
  first call for a topic with ``retry`` gets a 500 that does the same; otherwise the model asks
  for ``crm_lookup`` and ``search`` (passing the search key as an argument), then answers
  ``ANSWER``.
- ``GET /crm/{account}`` checks the bearer token and echoes it back, in success and in error.
- ``GET /search`` refuses every key, quoting it.

Every request's headers are kept, so a test can prove the secrets really reached the wire.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_runtime.testing.openai_server import TextReply, ToolCallsReply, respond
from agent_runtime.testing.threaded import ThreadedServer

#: The model's final answer: not secret, so it must show in run records and checkpoints.
ANSWER = "brief-on-acme-by-ada"


@dataclass
class Seen:
    """What the services received: (path, lower-case headers) per request, in order."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    prompts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def headers(self, prefix: str, name: str) -> list[str]:
        """Every value of header ``name`` sent to paths starting with ``prefix``."""
        with self.lock:
            return [h[name] for p, h in self.requests if p.startswith(prefix) and name in h]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "canary_error", "code": str(status)}},
        status_code=status,
    )


def create_app(seen: Seen, *, crm_token: str, search_key: str) -> Starlette:
    async def chat(request: Request) -> Response:
        body = await request.json()
        messages = body.get("messages", [])
        users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
        prompt = users[-1] if users else ""
        with seen.lock:
            seen.requests.append((request.url.path, dict(request.headers)))
            seen.prompts[prompt] += 1
            number, calls = len(seen.requests), seen.prompts[prompt]
        echoed = f"(got Authorization: {request.headers.get('authorization')})"
        if "fail" in prompt:
            return _error(401, f"invalid key {echoed}")
        if "retry" in prompt and calls == 1:
            return _error(500, f"upstream hiccup {echoed}")
        if messages and messages[-1].get("role") == "tool":
            return respond(body, TextReply(ANSWER), number)
        asks = ToolCallsReply(
            [
                {"name": "crm_lookup", "args": {"account": "acme"}},
                {"name": "search", "args": {"query": "acme", "api_key": search_key}},
            ]
        )
        return respond(body, asks, number)

    async def crm(request: Request) -> JSONResponse:
        with seen.lock:
            seen.requests.append((request.url.path, dict(request.headers)))
        got = request.headers.get("authorization", "")
        if got != f"Bearer {crm_token}":
            return JSONResponse({"error": f"bad token {got}"}, status_code=401)
        account = request.path_params["account"]
        return JSONResponse({"account": account, "owner": "Ada", "session": {"authorization": got}})

    async def search(request: Request) -> JSONResponse:
        with seen.lock:
            seen.requests.append((request.url.path, dict(request.headers)))
        return JSONResponse(
            {"error": f"key {request.headers.get('x-api-key')} is not valid"}, status_code=401
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/crm/{account}", crm),
            Route("/search", search),
        ]
    )


class FakeServices:
    """The app under uvicorn in a background thread for the ``with`` block."""

    def __init__(self, *, crm_token: str, search_key: str) -> None:
        self.seen = Seen()
        self._app = create_app(self.seen, crm_token=crm_token, search_key=search_key)
        self._server: ThreadedServer | None = None
        self.url = ""

    def __enter__(self) -> FakeServices:
        self._server = ThreadedServer(self._app, name="fake services")
        self.url = self._server.__enter__().url
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.__exit__(None, None, None)
