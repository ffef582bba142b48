"""The ``anthropic`` provider: the Messages API through the official ``anthropic`` SDK.

Structured output goes through a forced tool named ``output`` whose input schema is the node's
output schema: tool inputs are the one place the API guarantees schema-shaped JSON. Building the
request and parsing the answer are pure functions so they can be tested without a network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anthropic
from anthropic.types import Message as AnthropicMessage

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
    without_secrets,
)
from agent_runtime.spec.workflow import ModelSpec

#: The API requires ``max_tokens``; this is used when the ModelSpec leaves it unset.
DEFAULT_MAX_TOKENS = 4096
OUTPUT_TOOL = "output"
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def build_messages(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt and the alternating user/assistant turns the API expects.

    Tool results travel as ``tool_result`` blocks in a user turn, and consecutive turns of one
    role are merged, so parallel tool results end up in the single turn the API requires.
    """
    system = "\n\n".join(m.content for m in messages if m.role == "system" and m.content)
    turns: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        blocks: list[dict[str, Any]] = []
        if m.role == "tool":
            if not m.tool_call_id:
                raise ProviderError("anthropic: a tool message needs the id of the call it answers")
            blocks.append(
                {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            )
        else:
            if m.content:
                blocks.append({"type": "text", "text": m.content})
            for call in m.tool_calls:
                blocks.append(
                    {"type": "tool_use", "id": call.id, "name": call.name, "input": call.args}
                )
        role = "assistant" if m.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        elif blocks:
            turns.append({"role": role, "content": blocks})
    return system, turns


def build_params(spec: ModelSpec, request: ChatRequest) -> dict[str, Any]:
    """Keyword arguments for ``messages.create``."""
    system, turns = build_messages(request.messages)
    params: dict[str, Any] = {
        "model": spec.model,
        "max_tokens": spec.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        params["system"] = system
    if spec.temperature is not None:
        # Anthropic's range is 0..1, the spec's is OpenAI's 0..2.
        params["temperature"] = min(spec.temperature, 1.0)
    tools = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools
    ]
    if request.output_schema is not None:
        if any(t.name == OUTPUT_TOOL for t in request.tools):
            raise ProviderError(f"anthropic: a tool may not be named {OUTPUT_TOOL!r}")
        tools.append(
            {
                "name": OUTPUT_TOOL,
                "description": "Give the final answer. Call this exactly once, when done.",
                "input_schema": request.output_schema,
            }
        )
        # With other tools the model must pick some tool; ``output`` is how it finishes.
        only_output = len(tools) == 1
        params["tool_choice"] = (
            {"type": "tool", "name": OUTPUT_TOOL} if only_output else {"type": "any"}
        )
    if tools:
        params["tools"] = tools
    return params


def parse_message(message: AnthropicMessage, *, structured: bool) -> Completion:
    """The answer as a Completion; a call of the ``output`` tool is the structured answer."""
    usage = message.usage
    completion = Completion(
        usage=Usage(
            # Cached prompt tokens are still prompt tokens; the API counts them separately.
            input_tokens=usage.input_tokens
            + (usage.cache_creation_input_tokens or 0)
            + (usage.cache_read_input_tokens or 0),
            output_tokens=usage.output_tokens,
        ),
        model=message.model,
    )
    texts: list[str] = []
    for block in message.content:
        if block.type == "text":
            texts.append(block.text)
        elif block.type == "tool_use":
            args = block.input if isinstance(block.input, dict) else {}
            if structured and block.name == OUTPUT_TOOL:
                # The final answer wins over tool calls made in the same turn.
                completion.structured = dict(args)
                completion.tool_calls = []
                return completion
            completion.tool_calls.append(ToolCall(id=block.id, name=block.name, args=dict(args)))
    text = "".join(texts)
    return finish_text(completion, text, structured=structured, provider="anthropic")


def map_error(exc: anthropic.AnthropicError, *, secret: str | None = None) -> ProviderError:
    """An SDK error as a ProviderError, from the status and the server's error text only.

    ``secret`` is scrubbed as well, in case a proxy echoes the key back in its error body.
    """
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError("anthropic: the request timed out", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError("anthropic: could not connect to the server", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        text = _error_text(exc.body) or exc.message
        # 529 is Anthropic's "overloaded"; like every 5xx it is worth another try.
        retryable = status in _RETRYABLE_STATUS or status >= 500
        message = without_secrets(f"anthropic: HTTP {status}: {text}", secret)
        return ProviderError(message, retryable=retryable)
    return ProviderError(f"anthropic: {type(exc).__name__}: {exc}")


def _error_text(body: object) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return ""


class AnthropicModel(ChatModel):
    """One configured Claude model; the SDK client (key: ANTHROPIC_API_KEY) is made on first use."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__(spec)
        self._client: anthropic.AsyncAnthropic | None = None

    def _get_client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            # The engine's retry policy decides about retries, so the SDK must not add its own.
            self._client = anthropic.AsyncAnthropic(max_retries=0, timeout=self.request_timeout)
        return self._client

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            client = self._get_client()
            response = await client.messages.create(**build_params(self.spec, request))
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from (None if self._echoed(exc) else exc)
        return parse_message(response, structured=request.output_schema is not None)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """The Messages API's stream: text deltas as they come, then the final message."""
        text = request.output_schema is None
        try:
            client = self._get_client()
            async with client.messages.stream(**build_params(self.spec, request)) as events:
                async for piece in events.text_stream:
                    if piece and text:
                        yield Delta(text=piece)
                final = await events.get_final_message()
        except anthropic.AnthropicError as exc:
            raise self._error(exc) from (None if self._echoed(exc) else exc)
        yield parse_message(final, structured=not text)

    def _key(self) -> str | None:
        return (self._client.api_key or self._client.auth_token) if self._client else None

    def _echoed(self, exc: Exception) -> bool:
        """Whether the error's text holds the key: then it is kept out of tracebacks too."""
        key = self._key()
        return bool(key and key in str(exc))

    def _error(self, exc: anthropic.AnthropicError) -> ProviderError:
        return map_error(exc, secret=self._key())

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
