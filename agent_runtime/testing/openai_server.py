"""A scripted OpenAI-compatible server on 127.0.0.1, so tests drive the real ``openai`` client.

Patching the SDK would test our guesses about it; a local server tests the wire format the SDK
actually sends and parses. Each ``POST /v1/chat/completions`` takes the next scripted reply (the
last one repeats; with none, it echoes the last user message) and records the request body. A
body with ``"stream": true`` is answered with ``chat.completion.chunk`` server-sent events: the
content word by word, each tool call's arguments in two pieces, the usage in a last chunk when
``stream_options.include_usage`` asks for it, then ``data: [DONE]``; with ``token_delay``, each
chunk ``token_delay`` seconds after the one before, as a model writes (streaming benchmarks).

    with OpenAICompatibleServer(script=["hello", ErrorReply(429)]) as server:
        spec = ModelSpec(provider="openai", model="m", base_url=server.base_url)
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_runtime.testing.threaded import ThreadedServer


@dataclass(frozen=True)
class TextReply:
    """An assistant message with this content."""

    text: str


@dataclass(frozen=True)
class JsonReply:
    """An assistant message whose content is this object as JSON (structured output)."""

    value: Any


@dataclass(frozen=True)
class ToolCallsReply:
    """An assistant message asking for tool calls: ``[{"name", "args", "id"?}]``."""

    calls: list[dict[str, Any]]


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error in OpenAI's error format.

    ``echo_authorization`` puts the received Authorization header into the error text, as a
    careless proxy might: tests use it to check that adapters scrub credentials.
    """

    status: int
    message: str = "scripted error"
    echo_authorization: bool = False


Reply = str | TextReply | JsonReply | ToolCallsReply | ErrorReply


def _tokens(text: str) -> int:
    return len(text.split())


@dataclass
class _State:
    script: list[Reply]
    token_delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_for(self, body: dict[str, Any], index: int) -> Reply:
        if not self.script:
            users = [m for m in body.get("messages", []) if m.get("role") == "user"]
            return TextReply(str(users[-1].get("content", "")) if users else "")
        return self.script[min(index, len(self.script) - 1)]


def completion_body(body: dict[str, Any], reply: Reply, number: int) -> dict[str, Any]:
    """The ChatCompletion body that answers request ``body`` with ``reply`` (the ``number``th)."""
    prompt = " ".join(str(m.get("content") or "") for m in body.get("messages", []))
    message: dict[str, Any] = {"role": "assistant", "content": None}
    finish = "stop"
    if isinstance(reply, str):
        reply = TextReply(reply)
    if isinstance(reply, TextReply):
        message["content"] = reply.text
        output = reply.text
    elif isinstance(reply, JsonReply):
        message["content"] = json.dumps(reply.value)
        output = message["content"]
    elif isinstance(reply, ToolCallsReply):
        message["tool_calls"] = [
            {
                "id": call.get("id", f"call_{number}_{i}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call.get("args", {}))},
            }
            for i, call in enumerate(reply.calls)
        ]
        output = " ".join(c["function"]["arguments"] for c in message["tool_calls"])
        finish = "tool_calls"
    else:
        raise TypeError(f"not a completion reply: {reply!r}")
    prompt_tokens, completion_tokens = _tokens(prompt), _tokens(output)
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _pieces(text: str) -> list[str]:
    parts = text.split(" ")
    return [w + " " for w in parts[:-1]] + parts[-1:]


def _chunks(body: dict[str, Any], completion: dict[str, Any], token_delay: float) -> Response:
    """The streamed form of ``completion``, as OpenAI sends it."""
    message = completion["choices"][0]["message"]
    base = {k: completion[k] for k in ("id", "created", "model")}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "object": "chat.completion.chunk", "choices": [choice]}

    chunks = [chunk({"role": "assistant", "content": ""})]
    if message["content"]:
        chunks += [chunk({"content": piece}) for piece in _pieces(message["content"])]
    for i, call in enumerate(message.get("tool_calls", [])):
        arguments = call["function"]["arguments"]
        half = len(arguments) // 2
        opened = {"index": i, "id": call["id"], "type": "function"}
        chunks.append(
            chunk({"tool_calls": [{**opened, "function": {"name": call["function"]["name"]}}]})
        )
        for piece in (arguments[:half], arguments[half:]):
            chunks.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, completion["choices"][0]["finish_reason"]))
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append(
            {**base, "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]}
        )
    events = [f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"]
    if token_delay <= 0:
        return Response("".join(events), media_type="text/event-stream")

    async def paced() -> AsyncIterator[str]:
        for i, event in enumerate(events):
            if i:
                await asyncio.sleep(token_delay)
            yield event

    return StreamingResponse(paced(), media_type="text/event-stream")


def respond(
    body: dict[str, Any], reply: Reply, number: int, *, token_delay: float = 0.0
) -> Response:
    """``reply`` as OpenAI answers the request ``body``: whole, or as chunks when it asks to
    ``stream`` (other fake servers reuse this, so they stream as the real one does)."""
    completion = completion_body(body, reply, number)
    if body.get("stream"):
        return _chunks(body, completion, token_delay)
    return JSONResponse(completion)


def create_app(state: _State) -> Starlette:
    """The ASGI app; separate from the server so it can also be mounted elsewhere."""

    async def chat_completions(request: Request) -> Response:
        body = await request.json()
        with state.lock:
            state.requests.append(body)
            state.headers.append(dict(request.headers))
            number = len(state.requests)
            reply = state.reply_for(body, number - 1)
        if isinstance(reply, ErrorReply):
            text = reply.message
            if reply.echo_authorization:
                text = f"{text} (got Authorization: {request.headers.get('authorization')})"
            error = {"message": text, "type": "scripted_error", "code": str(reply.status)}
            return JSONResponse({"error": error}, status_code=reply.status)
        return respond(body, reply, number, token_delay=state.token_delay)

    return Starlette(routes=[Route("/v1/chat/completions", chat_completions, methods=["POST"])])


class OpenAICompatibleServer:
    """Runs the scripted app with uvicorn in a background thread for the ``with`` block."""

    def __init__(self, script: list[Reply] | None = None, *, token_delay: float = 0.0) -> None:
        self._state = _State(script=list(script or []), token_delay=token_delay)
        self._server: ThreadedServer | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """What a client's ``base_url`` should be (it includes ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, oldest first."""
        return self._state.requests

    @property
    def headers(self) -> list[dict[str, str]]:
        """The headers of each received request (lower-case names), oldest first."""
        return self._state.headers

    def __enter__(self) -> OpenAICompatibleServer:
        self._server = ThreadedServer(
            create_app(self._state), name="OpenAI-compatible test server"
        ).__enter__()
        self.port = self._server.port
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.__exit__(None, None, None)
