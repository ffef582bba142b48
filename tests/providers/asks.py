"""What the wire tests ask of every provider's SDK, so that each of their files says only what
its provider's wire looks like."""

from __future__ import annotations

from typing import Any

import pytest

from agent_runtime.providers.base import (
    ChatModel,
    ChatRequest,
    Message,
    ProviderError,
    ToolCall,
    ToolDef,
)

WEATHER = ToolDef(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["title", "score"],
}
#: The question of the tool-call tests, answered for each city it names in turn.
WEATHER_QUESTION = "Weather in Oslo and Rome?"
WEATHER_ANSWERS = ("-3C", "18C")


def ask(text: str, **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], **kwargs)


def brief() -> ChatRequest:
    """A system prompt and a question: 2 + 5 words, as the stand-in servers count tokens."""
    return ChatRequest(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="What is six times seven?"),
        ]
    )


def weather_results(calls: list[ToolCall], *, named: bool = True) -> ChatRequest:
    """The follow-up of ``WEATHER_QUESTION``: the calls asked for, then their results (each
    naming its tool, unless ``named`` is false and the adapter must find it by the call's id)."""
    results = [
        Message(role="tool", tool_call_id=call.id, name=call.name if named else None, content=text)
        for call, text in zip(calls, WEATHER_ANSWERS, strict=True)
    ]
    return ChatRequest(
        messages=[
            Message(role="user", content=WEATHER_QUESTION),
            Message(role="assistant", tool_calls=calls),
            *results,
        ],
        tools=[WEATHER],
    )


async def fails(model: ChatModel, request: ChatRequest) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await model.complete(request)
    return caught.value
