"""The ``ollama`` provider: Ollama's native chat API through the ``ollama`` SDK.

The native API (unlike Ollama's OpenAI-compatible one, reachable through the ``openai`` provider
with ``baseUrl``) takes a JSON Schema as ``format``, which constrains decoding to the schema.
Ollama gives tool calls no ids, so the adapter numbers them. Building the request and parsing the
answer are pure functions so they can be tested without a server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import ollama

from agent_runtime.providers.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Delta,
    Message,
    ProviderError,
    StreamChunk,
    ToolCall,
    Usage,
    finish_text,
    function_tools,
    without_secrets,
)
from agent_runtime.spec.workflow import ModelSpec

_RETRYABLE_STATUS = frozenset({408, 409, 429})


def build_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our neutral messages as Ollama chat messages; tool results name their tool."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    out: list[dict[str, Any]] = []
    for m in messages:
        item: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            item["tool_calls"] = [
                {"function": {"name": c.name, "arguments": c.args}} for c in m.tool_calls
            ]
        if m.role == "tool":
            name = m.name or names.get(m.tool_call_id or "")
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def build_params(spec: ModelSpec, request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``AsyncClient.chat``."""
    params: dict[str, Any] = {"model": spec.model, "messages": build_messages(request.messages)}
    if request.tools:
        params["tools"] = function_tools(request.tools)
    if request.output_schema is not None:
        params["format"] = request.output_schema
    options: dict[str, Any] = {}
    if spec.temperature is not None:
        options["temperature"] = spec.temperature
    if spec.max_tokens is not None:
        options["num_predict"] = spec.max_tokens
    if options:
        params["options"] = options
    return params


def parse_response(response: ollama.ChatResponse, *, structured: bool) -> Completion:
    """The answer as a Completion; usage comes from the prompt and generation eval counts."""
    completion = Completion(
        usage=Usage(
            input_tokens=response.prompt_eval_count or 0,
            output_tokens=response.eval_count or 0,
        ),
        model=response.model or "",
    )
    message = response.message
    for i, call in enumerate(message.tool_calls or []):
        completion.tool_calls.append(
            ToolCall(id=f"call_{i}", name=call.function.name, args=dict(call.function.arguments))
        )
    text = message.content or ""
    return finish_text(completion, text, structured=structured, provider="ollama")


def map_error(exc: Exception, *, secret: str | None = None) -> ProviderError:
    """An SDK or transport error as a ProviderError; a missing server is worth another try.

    ``secret`` (OLLAMA_API_KEY, for Ollama's hosted service) is scrubbed from the server's text.
    """
    if isinstance(exc, ollama.ResponseError):
        status = exc.status_code
        retryable = status in _RETRYABLE_STATUS or status >= 500
        message = without_secrets(f"ollama: HTTP {status}: {exc.error}", secret)
        return ProviderError(message, retryable=retryable)
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError("ollama: the request timed out", retryable=True)
    if isinstance(exc, ConnectionError | httpx.TransportError):
        return ProviderError("ollama: could not connect to the server", retryable=True)
    return ProviderError(f"ollama: {type(exc).__name__}: {exc}")


_CAUGHT = (ollama.ResponseError, ConnectionError, httpx.TransportError)


def _echoed(exc: Exception) -> bool:
    """Whether the error's text holds OLLAMA_API_KEY (what the SDK sends, if set)."""
    key = os.environ.get("OLLAMA_API_KEY")
    return bool(key and key in str(exc))


def _error(exc: Exception) -> ProviderError:
    return map_error(exc, secret=os.environ.get("OLLAMA_API_KEY"))


class OllamaModel(ChatModel):
    """One configured Ollama model; ``baseUrl`` is the host (default: OLLAMA_HOST or localhost)."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self._client: ollama.AsyncClient | None = None

    def _get_client(self) -> ollama.AsyncClient:
        if self._client is None:
            self._client = ollama.AsyncClient(host=self.spec.base_url, timeout=self.request_timeout)
        return self._client

    async def complete(self, request: ChatRequest) -> Completion:
        client = self._get_client()
        try:
            response = await client.chat(**build_params(self.spec, request))
        except _CAUGHT as exc:
            raise _error(exc) from (None if _echoed(exc) else exc)
        if not isinstance(response, ollama.ChatResponse):  # only a stream would be otherwise
            raise ProviderError("ollama: unexpected streaming response")
        return parse_response(response, structured=request.output_schema is not None)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """``/api/chat`` as NDJSON: each chunk's text as it comes; tool calls and the counts
        arrive in their own chunks, joined into the answer at the end."""
        client = self._get_client()
        text, pieces = request.output_schema is None, []
        calls: list[ollama.Message.ToolCall] = []
        last: ollama.ChatResponse | None = None
        try:
            async for chunk in await client.chat(**build_params(self.spec, request), stream=True):
                last = chunk
                calls += chunk.message.tool_calls or []
                if chunk.message.content:
                    pieces.append(chunk.message.content)
                    if text:
                        yield Delta(text=chunk.message.content)
        except _CAUGHT as exc:
            raise _error(exc) from (None if _echoed(exc) else exc)
        if last is None:
            raise ProviderError("ollama: the stream ended without an answer", retryable=True)
        message = last.message.model_copy(update={"content": "".join(pieces), "tool_calls": calls})
        answer = last.model_copy(update={"message": message})
        yield parse_response(answer, structured=not text)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()  # type: ignore[no-untyped-call]
            self._client = None
