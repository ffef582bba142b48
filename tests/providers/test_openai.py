"""The openai adapter through the real ``openai`` client against a local compatible server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("openai")
pytest.importorskip("uvicorn")

from agent_runtime.providers.base import ChatRequest, Message, ProviderError
from agent_runtime.providers.openai import OpenAIModel, build_params
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.testing.openai_server import (
    ErrorReply,
    JsonReply,
    OpenAICompatibleServer,
    Reply,
    ToolCallsReply,
)
from tests.providers.asks import SCHEMA as WIRE_SCHEMA
from tests.providers.asks import WEATHER, ask, brief

SECRET = "sk-test-SECRET"
#: Strict structured output wants every object closed.
SCHEMA = {**WIRE_SCHEMA, "additionalProperties": False}


@pytest.fixture(autouse=True)
def _api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


@pytest.fixture
def script() -> list[Reply]:
    return []


@pytest.fixture
def server(script: list[Reply]) -> Iterator[OpenAICompatibleServer]:
    with OpenAICompatibleServer(script=script) as running:
        yield running


@pytest.fixture
async def model(server: OpenAICompatibleServer) -> AsyncIterator[OpenAIModel]:
    spec = ModelSpec(provider="openai", model="test-model", base_url=server.base_url)
    adapter = OpenAIModel(spec)
    yield adapter
    await adapter.aclose()


@pytest.mark.parametrize("script", [["The answer is forty two."]])
async def test_text_answer_and_usage(server: OpenAICompatibleServer, model: OpenAIModel) -> None:
    completion = await model.complete(brief())

    assert completion.text == "The answer is forty two."
    assert completion.structured is None and completion.tool_calls == []
    # The server counts words: 2 + 5 in the prompt, 5 in the answer.
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 5)
    assert completion.model == "test-model"
    body = server.requests[0]
    assert body["model"] == "test-model"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is six times seven?"},
    ]
    assert "tools" not in body and "response_format" not in body
    assert server.headers[0]["authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(
    "script",
    [
        [
            ToolCallsReply([{"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_w1"}]),
            "Cold.",
        ]
    ],
)
async def test_tool_call_round_trip(server: OpenAICompatibleServer, model: OpenAIModel) -> None:
    first = await model.complete(ask("Weather in Oslo?", tools=[WEATHER]))

    assert [(c.id, c.name, c.args) for c in first.tool_calls] == [
        ("call_w1", "get_weather", {"city": "Oslo"})
    ]
    assert first.usage.output_tokens > 0
    assert server.requests[0]["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]

    follow_up = ChatRequest(
        messages=[
            Message(role="user", content="Weather in Oslo?"),
            Message(role="assistant", tool_calls=first.tool_calls),
            Message(role="tool", tool_call_id="call_w1", name="get_weather", content="-3C, snow"),
        ],
        tools=[WEATHER],
    )
    second = await model.complete(follow_up)

    assert second.text == "Cold."
    sent = server.requests[1]["messages"]
    assert sent[1]["role"] == "assistant"
    assert sent[1]["tool_calls"][0]["id"] == "call_w1"
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'
    assert sent[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "-3C, snow"}


@pytest.mark.parametrize("script", [[JsonReply({"title": "Durable agents", "score": 9})]])
async def test_structured_output(server: OpenAICompatibleServer, model: OpenAIModel) -> None:
    completion = await model.complete(ask("Rate it.", output_schema=SCHEMA))

    assert completion.structured == {"title": "Durable agents", "score": 9}
    assert completion.text == ""
    assert server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": SCHEMA, "strict": True},
    }


@pytest.mark.parametrize("script", [["not json at all"]])
async def test_structured_output_that_is_not_json(model: OpenAIModel) -> None:
    with pytest.raises(ProviderError, match="not JSON") as caught:
        await model.complete(ask("Rate it.", output_schema=SCHEMA))
    assert caught.value.retryable is False


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (401, False)]
)
async def test_http_errors_map_to_retryable(status: int, retryable: bool) -> None:
    with OpenAICompatibleServer(script=[ErrorReply(status, "scripted failure")]) as server:
        adapter = OpenAIModel(ModelSpec(provider="openai", model="m", base_url=server.base_url))
        try:
            with pytest.raises(ProviderError) as caught:
                await adapter.complete(ask("hi"))
        finally:
            await adapter.aclose()

    assert caught.value.retryable is retryable
    assert str(caught.value) == f"openai: HTTP {status}: scripted failure"
    assert len(server.requests) == 1, "the SDK must not retry on its own"


@pytest.mark.parametrize("script", [[ErrorReply(400, "invalid key", echo_authorization=True)]])
async def test_api_key_never_in_error_message(model: OpenAIModel) -> None:
    with pytest.raises(ProviderError) as caught:
        await model.complete(ask("hi"))

    message = str(caught.value)
    assert "invalid key" in message
    assert "Bearer ***" in message, "the server did echo the key; the adapter scrubbed it"
    assert SECRET not in message
    assert "SECRET" not in repr(caught.value)
    assert caught.value.__cause__ is None or SECRET not in str(caught.value.__cause__)


async def test_connection_refused_is_retryable() -> None:
    with OpenAICompatibleServer() as stopped:
        url = stopped.base_url
    adapter = OpenAIModel(ModelSpec(provider="openai", model="m", base_url=url))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(ask("hi"))
    finally:
        await adapter.aclose()
    assert caught.value.retryable is True
    assert SECRET not in str(caught.value)


async def test_no_script_echoes_the_prompt(model: OpenAIModel) -> None:
    completion = await model.complete(ask("echo me"))
    assert completion.text == "echo me"


async def test_placeholder_key_for_local_servers(
    monkeypatch: pytest.MonkeyPatch, server: OpenAICompatibleServer
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    adapter = OpenAIModel(ModelSpec(provider="openai", model="m", base_url=server.base_url))
    try:
        assert (await adapter.complete(ask("works without a key"))).text == "works without a key"
    finally:
        await adapter.aclose()
    assert SECRET not in server.headers[0]["authorization"]


async def test_missing_key_without_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    adapter = OpenAIModel(ModelSpec(provider="openai", model="gpt-4o-mini"))
    with pytest.raises(ProviderError, match="OPENAI_API_KEY") as caught:
        await adapter.complete(ask("hi"))
    assert caught.value.retryable is False


def test_options_are_passed_only_when_set() -> None:
    plain = build_params(ModelSpec(provider="openai", model="gpt-4o-mini"), ask("hi"))
    assert set(plain) == {"model", "messages"}

    tuned = ModelSpec(provider="openai", model="gpt-4o-mini", temperature=0.2, max_tokens=64)
    params = build_params(tuned, ask("hi"))
    assert params["temperature"] == 0.2
    assert params["max_completion_tokens"] == 64

    local = tuned.model_copy(update={"base_url": "http://vllm:8000/v1"})
    assert build_params(local, ask("hi"))["max_tokens"] == 64


@pytest.mark.parametrize("script", [["ok"]])
async def test_temperature_and_max_tokens_reach_the_server(server: OpenAICompatibleServer) -> None:
    spec = ModelSpec(
        provider="openai", model="m", base_url=server.base_url, temperature=0.3, max_tokens=50
    )
    adapter = OpenAIModel(spec)
    try:
        await adapter.complete(ask("hi"))
    finally:
        await adapter.aclose()
    assert server.requests[0]["temperature"] == 0.3
    assert server.requests[0]["max_tokens"] == 50
