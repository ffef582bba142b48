"""The ``openai`` provider: Chat Completions through the official ``openai`` SDK.

With ``baseUrl`` the same adapter drives any OpenAI-compatible server (vLLM, Ollama, LiteLLM), which
is why the payload sticks to the widely implemented subset of the API. Building the request and
parsing the answer are pure functions so they can be tested without a network.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Any

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

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
    function_tools,
    json_object,
)
from agent_runtime.spec.workflow import ModelSpec

#: Local OpenAI-compatible servers ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def build_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Our neutral messages as Chat Completions messages (tool calls carry JSON-encoded args)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            if not m.tool_call_id:
                raise ProviderError("openai: a tool message needs the id of the call it answers")
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    # The API wants null, not "", next to tool calls on some compatible servers.
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.args)},
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def build_params(spec: ModelSpec, request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create``; unset options are left out entirely."""
    params: dict[str, Any] = {"model": spec.model, "messages": build_messages(request.messages)}
    if request.tools:
        params["tools"] = function_tools(request.tools)
    if request.output_schema is not None:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": request.output_schema, "strict": True},
        }
    if spec.temperature is not None:
        params["temperature"] = spec.temperature
    if spec.max_tokens is not None:
        # OpenAI's reasoning models reject ``max_tokens``; compatible servers may not know the
        # newer name. So: the new name for OpenAI itself, the old one for everything else.
        key = "max_tokens" if spec.base_url else "max_completion_tokens"
        params[key] = spec.max_tokens
    return params


def parse_completion(response: ChatCompletion, *, structured: bool) -> Completion:
    """The first choice as a Completion; tool calls win over (structured) content."""
    if not response.choices:
        raise ProviderError("openai: the response has no choices", retryable=True)
    message = response.choices[0].message
    usage = Usage()
    if response.usage is not None:
        usage = Usage(
            input_tokens=response.usage.prompt_tokens,
            output_tokens=response.usage.completion_tokens,
        )
    calls: list[ToolCall] = []
    for call in message.tool_calls or []:
        function = getattr(call, "function", None)
        if function is None:  # custom (non-function) tools are never offered by this adapter
            continue
        calls.append(
            ToolCall(id=call.id, name=function.name, args=_json_object(function.arguments))
        )
    completion = Completion(tool_calls=calls, usage=usage, model=response.model)
    if calls:
        completion.text = message.content or ""
        return completion
    if message.refusal:
        raise ProviderError(f"openai: the model refused: {message.refusal}")
    content = message.content or ""
    if structured:
        completion.structured = _json_object(content, what="structured answer")
    else:
        completion.text = content
    return completion


class ChunkJoiner:
    """Streamed ``chat.completion.chunk``s joined into the ChatCompletion they add up to: the
    first choice's content and refusal, its tool calls by index (arguments arrive in pieces),
    and the usage the last chunk carries (``stream_options.include_usage``)."""

    def __init__(self) -> None:
        self.model = ""
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.finish = "stop"
        self.chunks = 0

    def add(self, chunk: ChatCompletionChunk) -> str:
        """Take one chunk; returns the text it adds."""
        self.chunks += 1
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = chunk.usage.model_dump()
        if not chunk.choices:
            return ""
        choice = chunk.choices[0]
        self.finish = choice.finish_reason or self.finish
        delta = choice.delta
        if delta.refusal:
            self.refusal.append(delta.refusal)
        for call in delta.tool_calls or []:
            joined = self.calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
            joined["id"] = call.id or joined["id"]
            if call.function is not None:
                joined["name"] += call.function.name or ""
                joined["arguments"] += call.function.arguments or ""
        if delta.content:
            self.content.append(delta.content)
            return delta.content
        return ""

    def completion(self) -> ChatCompletion:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(self.content) or None,
            "refusal": "".join(self.refusal) or None,
        }
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for _, c in sorted(self.calls.items())
            ]
        return ChatCompletion.model_validate(
            {
                "id": "stream",
                "object": "chat.completion",
                "created": 0,
                "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
                "usage": self.usage,
            }
        )


def _json_object(text: str, *, what: str = "tool call arguments") -> dict[str, Any]:
    return json_object("openai", text, what=what)


def map_error(exc: openai.OpenAIError, *, secret: str | None = None) -> ProviderError:
    """An SDK error as a ProviderError, built from the status and the server's error text only.

    ``secret`` is scrubbed as well, in case a proxy echoes the key back in its error body.
    """
    if isinstance(exc, openai.APITimeoutError):
        message, retryable = "openai: the request timed out", True
    elif isinstance(exc, openai.APIConnectionError):
        message, retryable = "openai: could not connect to the server", True
    elif isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = f"openai: HTTP {status}: {_error_text(exc.body) or exc.message}"
        retryable = status in _RETRYABLE_STATUS or status >= 500
    else:
        message, retryable = f"openai: {type(exc).__name__}: {exc}", False
    if secret:
        message = message.replace(secret, "***")
    return ProviderError(message, retryable=retryable)


def _error_text(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return ""


class OpenAIModel(ChatModel):
    """One configured OpenAI (or compatible) model; the SDK client is made on first use."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self._client: openai.AsyncOpenAI | None = None
        self._key: str | None = None

    def _get_client(self) -> openai.AsyncOpenAI:
        # Lazily, so that validating a Workflow never needs credentials.
        if self._client is None:
            key = os.environ.get("OPENAI_API_KEY") or None
            if key is None and self.spec.base_url:
                key = PLACEHOLDER_KEY
            if key is None:
                raise ProviderError("openai: OPENAI_API_KEY is not set")
            self._key = key
            # The engine's retry policy decides about retries, so the SDK must not add its own.
            self._client = openai.AsyncOpenAI(
                api_key=key,
                base_url=self.spec.base_url,
                max_retries=0,
                timeout=self.request_timeout,
            )
        return self._client

    async def complete(self, request: ChatRequest) -> Completion:
        client = self._get_client()
        try:
            response = await client.chat.completions.create(**build_params(self.spec, request))
        except openai.OpenAIError as exc:
            raise self._error(exc) from (None if self._echoed(exc) else exc)
        return parse_completion(response, structured=request.output_schema is not None)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        client = self._get_client()
        params = build_params(self.spec, request)
        joiner, text = ChunkJoiner(), request.output_schema is None
        try:
            chunks = await client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
            async for chunk in chunks:
                if (piece := joiner.add(chunk)) and text:
                    yield Delta(text=piece)
        except openai.OpenAIError as exc:
            raise self._error(exc) from (None if self._echoed(exc) else exc)
        if not joiner.chunks:
            # A server that ignores ``stream`` answers with one JSON body, which the SDK reads as
            # a stream of no events: an empty answer, were it taken as one.
            raise ProviderError(
                "openai: the server sent no chunks for a streamed request "
                "(does it support stream=true?)"
            )
        yield parse_completion(joiner.completion(), structured=not text)

    def _echoed(self, exc: Exception) -> bool:
        """Whether the error's text holds the key: then it is kept out of tracebacks too."""
        return bool(self._key and self._key in str(exc))

    def _error(self, exc: openai.OpenAIError) -> ProviderError:
        return map_error(exc, secret=self._key)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
