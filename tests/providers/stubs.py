"""Each provider's adapter pointed at its local protocol server, for tests that run the same
conversation through every provider's real SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from agent_runtime.providers.base import ChatModel
from agent_runtime.providers.factory import create_model
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.testing.openai_server import (
    ErrorReply,
    JsonReply,
    OpenAICompatibleServer,
    ToolCallsReply,
)
from tests.providers.wire import Calls, Fail, Structured, WireServer

PROVIDERS = ["openai", "anthropic", "google", "ollama"]
KEY = "stub-key-SECRET"


@dataclass(frozen=True)
class Ask:
    """The model asks for one tool call."""

    name: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """A structured answer."""

    value: dict[str, Any]


@dataclass(frozen=True)
class Error:
    """An HTTP error in the protocol's own shape."""

    status: int


Step = str | Ask | Answer | Error


def _openai(step: Step) -> Any:
    if isinstance(step, Ask):
        return ToolCallsReply([{"name": step.name, "args": step.args}])
    if isinstance(step, Answer):
        return JsonReply(step.value)
    return ErrorReply(step.status) if isinstance(step, Error) else step


def _wire(step: Step) -> Any:
    if isinstance(step, Ask):
        return Calls([(step.name, step.args)])
    if isinstance(step, Answer):
        return Structured(step.value)
    return Fail(step.status) if isinstance(step, Error) else step


@dataclass
class Stub:
    model: ChatModel
    #: The JSON bodies the server received, oldest first.
    bodies: Callable[[], list[dict[str, Any]]]


@asynccontextmanager
async def stub(
    provider: str, script: list[Step], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stub]:
    """``provider``'s adapter against its server, which answers ``script`` in turn."""
    async with AsyncExitStack() as stack:
        if provider == "openai":
            replies = [_openai(s) for s in script]
            openai_server = stack.enter_context(OpenAICompatibleServer(script=replies))
            monkeypatch.setenv("OPENAI_API_KEY", KEY)
            spec = ModelSpec(provider="openai", model="gpt-test", base_url=openai_server.base_url)
            bodies: Callable[[], list[dict[str, Any]]] = lambda: openai_server.requests  # noqa: E731
        else:
            protocol = {"google": "gemini"}.get(provider, provider)
            wire = [_wire(s) for s in script]
            server = stack.enter_context(
                WireServer(protocol, wire, api_key=None if provider == "ollama" else KEY)  # type: ignore[arg-type]
            )
            spec = _point_at(provider, server.url, monkeypatch)
            bodies = lambda: [r.body for r in server.received]  # noqa: E731
        model = create_model(spec)
        stack.push_async_callback(model.aclose)
        yield Stub(model=model, bodies=bodies)


def _point_at(provider: str, url: str, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    if provider == "anthropic":
        monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
        return ModelSpec(provider="anthropic", model="claude-test")
    if provider == "google":
        monkeypatch.setenv("GOOGLE_API_KEY", KEY)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", url)
        for name in ("GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION"):
            monkeypatch.delenv(name, raising=False)
        return ModelSpec(provider="google", model="gemini-test")
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    return ModelSpec(provider="ollama", model="llama-test", base_url=url)
