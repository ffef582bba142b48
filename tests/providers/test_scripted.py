"""The offline ``scripted`` provider: the contract examples and engine tests rely on."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agent_runtime.providers.base import ChatRequest, Completion, Message, ProviderError, ToolCall
from agent_runtime.providers.scripted import ScriptedModel
from agent_runtime.spec.workflow import ModelSpec

SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}}


def scripted(responses: list[Any] | None = None, delay: str | float = 0) -> ScriptedModel:
    return ScriptedModel(
        ModelSpec.model_validate({"provider": "scripted", "responses": responses, "delay": delay})
    )


def ask(text: str = "Write about durable agents", *, visit: int = 0, **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], visit=visit, **kwargs)


async def test_visits_index_responses_and_the_last_repeats() -> None:
    model = scripted(["first", "second", "last"])
    answers = [(await model.complete(ask(visit=v))).text for v in range(5)]
    assert answers == ["first", "second", "last", "last", "last"]


async def test_retries_of_a_visit_get_the_same_answer() -> None:
    model = scripted(["first", "second"])
    assert (await model.complete(ask(visit=0))).text == "first"
    assert (await model.complete(ask(visit=0))).text == "first"


async def test_mapping_is_the_structured_output() -> None:
    completion = await scripted([{"title": "Durable"}]).complete(ask(output_schema=SCHEMA))
    assert completion.structured == {"title": "Durable"}
    assert completion.text == ""


async def test_mapping_without_schema_is_json_text() -> None:
    completion = await scripted([{"title": "Durable"}]).complete(ask())
    assert completion.text == '{"title": "Durable"}'
    assert completion.structured is None


async def test_json_string_fills_a_schema_and_plain_text_does_not() -> None:
    completion = await scripted(['{"title": "From text"}']).complete(ask(output_schema=SCHEMA))
    assert completion.structured == {"title": "From text"}
    with pytest.raises(ProviderError, match="structured output"):
        await scripted(["just words"]).complete(ask(output_schema=SCHEMA))


def _after_tools(completion: Completion, result: str) -> list[Message]:
    return [
        Message(role="user", content="Weather?"),
        Message(role="assistant", tool_calls=completion.tool_calls),
        Message(role="tool", tool_call_id=completion.tool_calls[0].id, content=result),
    ]


async def test_tool_calls_then_the_then_answer() -> None:
    entry = {
        "toolCalls": [{"name": "get_weather", "args": {"city": "Oslo"}}],
        "then": "Cold in Oslo.",
    }
    model = scripted([entry])

    first = await model.complete(ask("Weather?"))
    assert first.tool_calls == [ToolCall(id="call_0", name="get_weather", args={"city": "Oslo"})]
    assert first.text == ""

    second = await model.complete(ChatRequest(messages=_after_tools(first, "-3C")))
    assert second.text == "Cold in Oslo."
    assert second.tool_calls == []


async def test_tool_calls_then_the_last_tool_result() -> None:
    model = scripted([{"toolCalls": [{"name": "lookup", "args": {}}]}])
    first = await model.complete(ask("Find it"))

    plain = await model.complete(ChatRequest(messages=_after_tools(first, "found: 42")))
    assert plain.text == "found: 42"

    structured = await model.complete(
        ChatRequest(messages=_after_tools(first, '{"title": "42"}'), output_schema=SCHEMA)
    )
    assert structured.structured == {"title": "42"}


async def test_several_tool_calls_are_numbered() -> None:
    entry = {"toolCalls": [{"name": "a", "args": {"x": 1}}, {"name": "b"}]}
    completion = await scripted([entry]).complete(ask())
    assert [(c.id, c.name, c.args) for c in completion.tool_calls] == [
        ("call_0", "a", {"x": 1}),
        ("call_1", "b", {}),
    ]


async def test_tool_calls_must_be_a_list() -> None:
    with pytest.raises(ProviderError, match="toolCalls"):
        await scripted([{"toolCalls": {"name": "a"}}]).complete(ask())


async def test_no_responses_echoes_the_prompt() -> None:
    request = ChatRequest(
        messages=[
            Message(role="system", content="You are terse."),
            Message(role="user", content="Summarise: durable agents"),
        ]
    )
    assert (await scripted().complete(request)).text == "Summarise: durable agents"


async def test_delay_makes_each_call_take_that_long() -> None:
    model = scripted(["slow"], delay="200ms")
    started = time.monotonic()
    await model.complete(ask())
    assert time.monotonic() - started >= 0.19


async def test_token_counts_are_deterministic() -> None:
    model = scripted(["four words of answer"])
    request = ChatRequest(
        messages=[
            Message(role="system", content="be brief"),
            Message(role="user", content="three word prompt"),
        ]
    )
    first, second = await model.complete(request), await model.complete(request)
    assert first.usage == second.usage
    assert (first.usage.input_tokens, first.usage.output_tokens) == (5, 4)
    assert first.model == "scripted"


async def test_tool_call_tokens_grow_with_the_arguments() -> None:
    small = await scripted([{"toolCalls": [{"name": "a", "args": {"x": 1}}]}]).complete(ask())
    large = await scripted([{"toolCalls": [{"name": "a", "args": {"x": 1, "y": 2}}]}]).complete(
        ask()
    )
    assert large.usage.output_tokens == small.usage.output_tokens + 2
