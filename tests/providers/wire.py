"""Loopback servers speaking the Anthropic, Gemini and Ollama HTTP protocols, for the real SDKs.

Hosted APIs cannot be reached from tests, and patching an SDK would test our guesses about it, so
each adapter drives its provider's own SDK against one of these. The formats follow the providers'
API references:

- Anthropic ``POST /v1/messages``: ``x-api-key`` (or a bearer token, as SDK 2 sends the key) and
  ``anthropic-version``; typed content blocks; SSE events ``message_start`` ... ``message_stop``
  when the body asks for ``stream``; errors ``{"type": "error", "error": {"type", "message"}}``.
- Gemini ``POST /{version}/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``:
  ``x-goog-api-key`` or ``?key=``; camelCase parts with thought signatures on function calls;
  errors ``{"error": {"code", "message", "status", "details"}}``.
- Ollama ``POST /api/chat``: no auth; NDJSON unless the body says ``"stream": false``; errors
  ``{"error": "..."}``.

Each request takes the next scripted reply (the last repeats) and is recorded. Token counts are
words, so tests can predict them: the input is every text the request carries (system prompt
included), the output the reply.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_runtime.testing.threaded import ThreadedServer
from tests.providers.wire_anthropic import (
    anthropic_auth,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
)
from tests.providers.wire_gemini import (
    gemini_auth,
    gemini_error,
    gemini_response,
    gemini_stream,
    gemini_unsigned_call,
    proto_field,
    signature_of,
)
from tests.providers.wire_ollama import ollama_ndjson, ollama_response
from tests.providers.wire_replies import (
    SIGNATURE,
    Calls,
    Fail,
    Protocol,
    Received,
    Reply,
    Stall,
    Structured,
    words,
)

__all__ = [
    "SIGNATURE",
    "Calls",
    "Fail",
    "Hangup",
    "Protocol",
    "Received",
    "Reply",
    "Stall",
    "Structured",
    "Timed",
    "WireServer",
    "proto_field",
    "signature_of",
    "stopwatch",
    "words",
]


@dataclass
class _State:
    protocol: Protocol
    script: list[Reply]
    api_key: str | None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


# -- The server ---------------------------------------------------------------------------------


def _error_response(state: _State, reply: Fail, request: Request) -> Response:
    text = reply.message
    if reply.echo_key:
        key = (
            request.headers.get("x-api-key")
            or request.headers.get("x-goog-api-key")
            or request.headers.get("authorization")
        )
        text = f"{text} (got key {key})"
    headers = {"retry-after": reply.retry_after} if reply.retry_after else {}
    body: dict[str, Any]
    if state.protocol == "anthropic":
        body = anthropic_error(reply.status, text)
        headers["request-id"] = "req_scripted"
    elif state.protocol == "gemini":
        details = []
        if reply.retry_after:
            info = "type.googleapis.com/google.rpc.RetryInfo"
            details.append({"@type": info, "retryDelay": f"{reply.retry_after}s"})
        body = gemini_error(reply.status, text, details)
    else:
        body = {"error": text}
    return JSONResponse(body, status_code=reply.status, headers=headers)


def _app(state: _State) -> Starlette:
    async def take(request: Request) -> tuple[dict[str, Any], Reply, int]:
        body = await request.json()
        with state.lock:
            state.received.append(
                Received(
                    path=request.url.path,
                    query=dict(request.query_params),
                    headers=dict(request.headers),
                    body=body,
                )
            )
            number = len(state.received)
        script = state.script or ["ok"]
        reply = script[min(number - 1, len(script) - 1)]
        if isinstance(reply, Stall):
            await asyncio.to_thread(state.stopping.wait, reply.seconds)
        return body, reply, number

    async def anthropic_messages(request: Request) -> Response:
        body, reply, number = await take(request)
        if (denied := anthropic_auth(request, state.api_key)) is not None:
            return denied
        if isinstance(reply, Fail):
            return _error_response(state, reply, request)
        message = anthropic_message(body, reply, number)
        return anthropic_stream(message) if body.get("stream") else JSONResponse(message)

    async def gemini_generate(request: Request) -> Response:
        body, reply, number = await take(request)
        model, _, method = request.path_params["target"].partition(":")
        streams = method == "streamGenerateContent"
        if method != "generateContent" and not (
            streams and request.query_params.get("alt") == "sse"
        ):
            body404 = gemini_error(404, f"method {method!r} is not served here")
            return JSONResponse(body404, status_code=404)
        if (denied := gemini_auth(request, state.api_key)) is not None:
            return denied
        if gemini_unsigned_call(body):
            message = "Function call is missing a thought_signature in functionCall parts."
            return JSONResponse(gemini_error(400, message), status_code=400)
        if isinstance(reply, Fail):
            return _error_response(state, reply, request)
        answer = gemini_response(model, body, reply, number)
        return gemini_stream(answer) if streams else JSONResponse(answer)

    async def ollama_chat(request: Request) -> Response:
        body, reply, _ = await take(request)
        if isinstance(reply, Fail):
            return _error_response(state, reply, request)
        answer = ollama_response(body, reply)
        # The API streams unless the body says otherwise.
        return ollama_ndjson(answer) if body.get("stream", True) else JSONResponse(answer)

    routes: dict[Protocol, list[Route]] = {
        "anthropic": [Route("/v1/messages", anthropic_messages, methods=["POST"])],
        "gemini": [Route("/{version}/models/{target}", gemini_generate, methods=["POST"])],
        "ollama": [Route("/api/chat", ollama_chat, methods=["POST"])],
    }
    return Starlette(routes=routes[state.protocol])


class WireServer:
    """One protocol's scripted server on 127.0.0.1, run by uvicorn in a thread for a ``with``."""

    def __init__(
        self, protocol: Protocol, script: list[Reply] | None = None, *, api_key: str | None = None
    ) -> None:
        self._state = _State(protocol=protocol, script=list(script or []), api_key=api_key)
        self._server: ThreadedServer | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The root URL: what ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL or a host should be."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Received]:
        """The requests so far, oldest first."""
        return self._state.received

    def __enter__(self) -> WireServer:
        self._server = ThreadedServer(
            _app(self._state), name=f"{self._state.protocol} test server"
        ).__enter__()
        self.port = self._server.port
        return self

    def __exit__(self, *exc: object) -> None:
        self._state.stopping.set()
        if self._server is not None:
            self._server.__exit__(None, None, None)


class Hangup:
    """A TCP listener on 127.0.0.1 that closes every connection unanswered, counting them: a
    crashed proxy as a client sees it, and a way to count an SDK's hidden retries."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def __enter__(self) -> Hangup:
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()


Timed = Callable[[], float]


def stopwatch() -> Timed:
    """Seconds since the call, for asserting that failures come back in bounded time."""
    start = time.monotonic()
    return lambda: time.monotonic() - start
