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
import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent_runtime.testing.threaded import ThreadedServer
from tests.sse import message

Protocol = Literal["anthropic", "gemini", "ollama"]
#: The thought signature the Gemini server attaches to every function call and wants back.
SIGNATURE = b"sig-\x00\xff-opaque"


@dataclass(frozen=True)
class Calls:
    """The model asks for tool calls: ``(name, args)`` pairs; the server makes up the ids."""

    calls: list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Structured:
    """A structured answer, in whatever form the protocol gives one (forced tool or JSON text)."""

    value: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    """An HTTP error in the protocol's error shape.

    ``echo_key`` puts the received credential into the error text, as a careless proxy might:
    tests use it to check that adapters scrub credentials.
    """

    status: int
    message: str = "scripted failure"
    retry_after: str | None = None
    echo_key: bool = False


@dataclass(frozen=True)
class Stall:
    """Answer ``"late"`` only after this many seconds (or when the server stops)."""

    seconds: float


Reply = str | Calls | Structured | Fail | Stall


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class _State:
    protocol: Protocol
    script: list[Reply]
    api_key: str | None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


def _texts(value: Any) -> list[str]:
    """Every string under a ``text``/``content``/``system`` key, and tool-result payloads."""
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if not isinstance(value, dict):
        return []
    found: list[str] = []
    for key, item in value.items():
        if key in ("text", "content", "system") and isinstance(item, str):
            found.append(item)
        elif key in ("response", "input", "args", "arguments", "properties", "parameters"):
            continue  # structured payloads are not prompt text
        else:
            found.extend(_texts(item))
    return found


def words(*texts: str) -> int:
    """The servers' token count: whitespace-separated words."""
    return sum(len(t.split()) for t in texts)


def _prompt_tokens(protocol: Protocol, body: dict[str, Any]) -> int:
    part = {
        "anthropic": {"system": body.get("system"), "messages": body.get("messages")},
        "gemini": {"s": body.get("systemInstruction"), "c": body.get("contents")},
        "ollama": {"messages": body.get("messages")},
    }[protocol]
    return words(*_texts(part))


def _reply_text(reply: Reply) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, Structured):
        return json.dumps(reply.value)
    if isinstance(reply, Calls):
        return " ".join(json.dumps(args) for _, args in reply.calls)
    return "late"


# -- Anthropic Messages API -------------------------------------------------------------------

_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _anthropic_error(status: int, message: str) -> dict[str, Any]:
    kind = _ANTHROPIC_ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def _anthropic_auth(request: Request, api_key: str | None) -> Response | None:
    if not request.headers.get("anthropic-version"):
        body = _anthropic_error(400, "anthropic-version: header is required")
        return JSONResponse(body, status_code=400)
    given = {request.headers.get("x-api-key"), request.headers.get("authorization")}
    if api_key is not None and not given & {api_key, f"Bearer {api_key}"}:
        return JSONResponse(_anthropic_error(401, "invalid x-api-key"), status_code=401)
    return None


def _anthropic_message(body: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    stop = "end_turn"
    if isinstance(reply, Calls):
        for i, (name, args) in enumerate(reply.calls):
            content.append(
                {"type": "tool_use", "id": f"toolu_{number}_{i}", "name": name, "input": args}
            )
        stop = "tool_use"
    elif isinstance(reply, Structured) and body.get("tool_choice", {}).get("type") == "tool":
        # The adapter forces a tool whose input schema is the output schema.
        name = body["tool_choice"]["name"]
        content.append(
            {"type": "tool_use", "id": f"toolu_{number}", "name": name, "input": reply.value}
        )
        stop = "tool_use"
    else:
        content.append({"type": "text", "text": _reply_text(reply)})
    return {
        "id": f"msg_{number:04d}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _prompt_tokens("anthropic", body),
            "output_tokens": words(_reply_text(reply)),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _sse(events: list[tuple[str | None, dict[str, Any]]]) -> Response:
    """Server-sent events: ``event:`` lines when named (Anthropic), bare ``data:`` (Gemini)."""
    text = "".join(message(data, event=name) for name, data in events)
    return Response(text, media_type="text/event-stream")


def _anthropic_stream(message: dict[str, Any]) -> Response:
    """The Messages streaming events for a whole message: each block opened, sent in pieces
    (text word by word, tool input as partial JSON), closed; then the stop reason and usage."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events: list[tuple[str | None, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message["content"]):
        opened: dict[str, Any]
        if block["type"] == "text":
            opened = {"type": "text", "text": ""}
            pieces = [{"type": "text_delta", "text": w} for w in _pieces(block["text"])]
        else:
            opened = {**block, "input": {}}
            pieces = [{"type": "input_json_delta", "partial_json": w} for w in _halves(block)]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opened},
            )
        )
        for delta in pieces:
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": stop,
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return _sse(events)


def _pieces(text: str) -> list[str]:
    """Word-sized pieces that join back to ``text``."""
    words_ = text.split(" ")
    return [w + " " for w in words_[:-1]] + [words_[-1]]


def _halves(block: dict[str, Any]) -> list[str]:
    encoded = json.dumps(block["input"])
    return [encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]]


# -- Gemini API ---------------------------------------------------------------------------------

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _gemini_error(status: int, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def _gemini_auth(request: Request, api_key: str | None) -> Response | None:
    given = request.headers.get("x-goog-api-key") or request.query_params.get("key")
    if api_key is not None and given != api_key:
        # What the real API answers to a wrong key: 400, reason API_KEY_INVALID.
        detail = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        body = _gemini_error(400, "API key not valid. Please pass a valid API key.", [detail])
        return JSONResponse(body, status_code=400)
    return None


def proto_field(message: dict[str, Any], name: str) -> Any:
    """A field of a Gemini request under its JSON name or its proto name, both of which the API's
    proto JSON accepts (SDK 3 sends ``parameters_json_schema`` in snake case)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return message[name] if name in message else message[snake]


def _gemini_unsigned_call(body: dict[str, Any]) -> bool:
    """Gemini 3 rejects history whose function calls lost their thought signature."""
    for content in body.get("contents", []):
        if content.get("role") != "model":
            continue
        for part in content.get("parts", []):
            if "functionCall" in part and signature_of(part) != SIGNATURE:
                return True
    return False


def signature_of(part: dict[str, Any]) -> bytes | None:
    """A part's thought signature: proto JSON bytes, standard or URL-safe base64."""
    text = part.get("thoughtSignature", part.get("thought_signature"))
    if not isinstance(text, str):
        return None
    return base64.b64decode(text.replace("-", "+").replace("_", "/"))


def _gemini_response(model: str, body: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if isinstance(reply, Calls):
        signature = base64.b64encode(SIGNATURE).decode()
        for name, args in reply.calls:
            parts.append(
                {"functionCall": {"name": name, "args": args}, "thoughtSignature": signature}
            )
    else:
        parts.append({"text": _reply_text(reply)})
    prompt, output = _prompt_tokens("gemini", body), words(_reply_text(reply))
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": f"{model}-001",
        "responseId": f"resp-{number}",
    }


def _gemini_stream(response: dict[str, Any]) -> Response:
    """``streamGenerateContent?alt=sse``: one response chunk per text piece (function calls come
    whole), each a full GenerateContentResponse; the usage counts ride on the last."""
    candidate = response["candidates"][0]
    chunks: list[dict[str, Any]] = []
    for part in candidate["content"]["parts"]:
        pieces = [{"text": t} for t in _pieces(part["text"])] if "text" in part else [part]
        for piece in pieces:
            content = {"role": "model", "parts": [piece]}
            chunks.append(
                {
                    "candidates": [{"content": content, "index": 0}],
                    "modelVersion": response["modelVersion"],
                }
            )
    chunks[-1]["candidates"][0]["finishReason"] = candidate["finishReason"]
    chunks[-1]["usageMetadata"] = response["usageMetadata"]
    return _sse([(None, chunk) for chunk in chunks])


# -- Ollama native API --------------------------------------------------------------------------


def _ollama_response(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": ""}
    if isinstance(reply, Calls):
        message["tool_calls"] = [
            {"function": {"index": i, "name": name, "arguments": args}}
            for i, (name, args) in enumerate(reply.calls)
        ]
    else:
        message["content"] = _reply_text(reply)
    return {
        "model": body.get("model", ""),
        "created_at": "2026-01-01T00:00:00.000000Z",
        "message": message,
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "load_duration": 10,
        "prompt_eval_count": _prompt_tokens("ollama", body),
        "prompt_eval_duration": 100,
        "eval_count": words(_reply_text(reply)),
        "eval_duration": 800,
    }


def _ollama_ndjson(answer: dict[str, Any]) -> Response:
    """The streamed form: a chunk per word, then the final chunk (no text) with the counts."""
    chunks = []
    for word in _pieces(answer["message"]["content"]):
        chunk = {k: answer[k] for k in ("model", "created_at")}
        chunks.append({**chunk, "message": {"role": "assistant", "content": word}, "done": False})
    chunks.append({**answer, "message": {**answer["message"], "content": ""}})
    text = "".join(json.dumps(c) + "\n" for c in chunks)
    return Response(text, media_type="application/x-ndjson")


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
        body = _anthropic_error(reply.status, text)
        headers["request-id"] = "req_scripted"
    elif state.protocol == "gemini":
        details = []
        if reply.retry_after:
            info = "type.googleapis.com/google.rpc.RetryInfo"
            details.append({"@type": info, "retryDelay": f"{reply.retry_after}s"})
        body = _gemini_error(reply.status, text, details)
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
        if (denied := _anthropic_auth(request, state.api_key)) is not None:
            return denied
        if isinstance(reply, Fail):
            return _error_response(state, reply, request)
        message = _anthropic_message(body, reply, number)
        return _anthropic_stream(message) if body.get("stream") else JSONResponse(message)

    async def gemini_generate(request: Request) -> Response:
        body, reply, number = await take(request)
        model, _, method = request.path_params["target"].partition(":")
        streams = method == "streamGenerateContent"
        if method != "generateContent" and not (
            streams and request.query_params.get("alt") == "sse"
        ):
            body404 = _gemini_error(404, f"method {method!r} is not served here")
            return JSONResponse(body404, status_code=404)
        if (denied := _gemini_auth(request, state.api_key)) is not None:
            return denied
        if _gemini_unsigned_call(body):
            message = "Function call is missing a thought_signature in functionCall parts."
            return JSONResponse(_gemini_error(400, message), status_code=400)
        if isinstance(reply, Fail):
            return _error_response(state, reply, request)
        answer = _gemini_response(model, body, reply, number)
        return _gemini_stream(answer) if streams else JSONResponse(answer)

    async def ollama_chat(request: Request) -> Response:
        body, reply, _ = await take(request)
        if isinstance(reply, Fail):
            return _error_response(state, reply, request)
        answer = _ollama_response(body, reply)
        # The API streams unless the body says otherwise.
        return _ollama_ndjson(answer) if body.get("stream", True) else JSONResponse(answer)

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
