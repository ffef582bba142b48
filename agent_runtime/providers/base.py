"""The provider-neutral chat interface every adapter implements."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.spec.workflow import ModelSpec


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(populate_by_name=True, alias_generator=to_camel)


class ToolCall(WireModel):
    id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)


class Message(WireModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    #: For ``tool`` messages: which call this answers.
    tool_call_id: str | None = None
    name: str | None = None


class ToolDef(WireModel):
    """A tool as the model sees it: a name, what it does, and a JSON Schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Usage(WireModel):
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )


class ChatRequest(WireModel):
    messages: list[Message]
    tools: list[ToolDef] = Field(default_factory=list)
    #: JSON Schema (type object) the answer must follow; None for plain text.
    output_schema: dict[str, Any] | None = None
    #: Which visit of the node this is (0-based); only the ``scripted`` provider reads it.
    visit: int = 0
    node: str = ""


class Completion(WireModel):
    """One model answer: text, a structured object, or a request for tool calls."""

    text: str = ""
    structured: dict[str, Any] | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    model: str = ""


class Delta(WireModel):
    """A piece of the answer's text, as the model writes it (plain-text answers only)."""

    text: str


#: What ``ChatModel.stream`` yields: text pieces, then the whole answer, once, last.
StreamChunk = Delta | Completion


class ProviderError(AgentRuntimeError, RuntimeError):
    """A model call failed. ``retryable`` errors (rate limits, timeouts, 5xx) may be tried again.

    Messages must never contain credentials: adapters build them from status codes and the
    provider's error text only.
    """

    code = "provider_error"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ChatModel(ABC):
    """One configured model. Instances are cheap and may be cached per Workflow version."""

    #: Seconds one HTTP call to the provider may take; past it the call fails as retryable. The
    #: node's ``timeout`` usually ends a call sooner; this bounds the calls nothing else bounds
    #: (the Ollama and Gemini SDKs would wait forever). Set it before the first call.
    request_timeout: float = 600.0

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion:
        """Answer the conversation; raise ProviderError on failure."""

    @abstractmethod
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Answer the conversation as it is written: ``Delta`` pieces of a plain-text answer
        (none for a structured one), then the same ``Completion`` that ``complete`` gives,
        last. Raise ProviderError on failure, before or during the stream."""

    async def aclose(self) -> None:
        """Release connections; the default holds none."""


def without_secrets(text: str, *secrets: str | None) -> str:
    """``text`` with each given secret replaced by ``***``: some proxies echo keys in errors."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def json_object(provider: str, text: str, *, what: str = "structured answer") -> dict[str, Any]:
    """Decode a model's JSON answer, or say plainly which provider gave what instead."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        raise ProviderError(f"{provider}: the {what} is not JSON: {text[:200]!r}") from None
    if not isinstance(value, dict):
        raise ProviderError(f"{provider}: the {what} is not a JSON object: {text[:200]!r}")
    return value


def finish_text(
    completion: Completion, text: str, *, structured: bool, provider: str
) -> Completion:
    """Put the answer's text where it belongs: plain text, or a structured object."""
    if completion.tool_calls or not structured:
        completion.text = text
    else:
        completion.structured = json_object(provider, text)
    return completion


def function_tools(tools: list[ToolDef]) -> list[dict[str, Any]]:
    """Tools in the OpenAI function-calling shape that OpenAI and Ollama both take."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]
