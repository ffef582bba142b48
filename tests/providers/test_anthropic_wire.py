"""The anthropic adapter through the real ``anthropic`` SDK against a local Messages API server.

``complete`` asks for one whole message; ``stream`` is tested in ``test_streams.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("anthropic")
pytest.importorskip("uvicorn")

from agent_runtime.providers.anthropic import DEFAULT_MAX_TOKENS, OUTPUT_TOOL, AnthropicModel
from agent_runtime.providers.base import ProviderError
from agent_runtime.spec.workflow import ModelSpec
from tests.providers.asks import SCHEMA, WEATHER, WEATHER_QUESTION, ask, brief, weather_results
from tests.providers.wire import Calls, Fail, Reply, Stall, Structured, WireServer, stopwatch

SECRET = "sk-ant-test-SECRET"


@pytest.fixture
def script() -> list[Reply]:
    return []


@pytest.fixture
def server(script: list[Reply], monkeypatch: pytest.MonkeyPatch) -> Iterator[WireServer]:
    with WireServer("anthropic", script, api_key=SECRET) as running:
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", running.url)
        yield running


@pytest.fixture
async def model(server: WireServer) -> AsyncIterator[AnthropicModel]:
    adapter = AnthropicModel(ModelSpec(provider="anthropic", model="claude-test"))
    yield adapter
    await adapter.aclose()


def key_sent(headers: dict[str, str]) -> str | None:
    """The key as the SDK sent it: ``x-api-key`` (SDK 0.x, 1.x) or a bearer token (SDK 2)."""
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    return headers.get("x-api-key") or bearer or None


@pytest.mark.parametrize("script", [["The answer is forty two."]])
async def test_text_answer_usage_and_headers(server: WireServer, model: AnthropicModel) -> None:
    completion = await model.complete(brief())

    assert completion.text == "The answer is forty two."
    assert completion.tool_calls == [] and completion.structured is None
    # Words: 2 + 5 in the prompt, 5 in the answer.
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 5)
    assert completion.model == "claude-test"
    [got] = server.received
    assert got.path == "/v1/messages"
    assert key_sent(got.headers) == SECRET
    assert got.headers["anthropic-version"]
    assert got.body == {
        "model": "claude-test",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is six times seven?"}]}
        ],
    }


@pytest.mark.parametrize(
    "script",
    [[Calls([("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]), "Cold."]],
)
async def test_tool_call_round_trip(server: WireServer, model: AnthropicModel) -> None:
    first = await model.complete(ask(WEATHER_QUESTION, tools=[WEATHER]))

    assert [(c.id, c.name, c.args) for c in first.tool_calls] == [
        ("toolu_1_0", "get_weather", {"city": "Oslo"}),
        ("toolu_1_1", "get_weather", {"city": "Rome"}),
    ]
    assert first.usage.output_tokens == 4
    assert server.received[0].body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": WEATHER.parameters,
        }
    ]

    follow_up = weather_results(first.tool_calls)
    second = await model.complete(follow_up)

    assert second.text == "Cold."
    sent = server.received[1].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [
            {
                "type": "tool_use",
                "id": "toolu_1_0",
                "name": "get_weather",
                "input": {"city": "Oslo"},
            },
            {
                "type": "tool_use",
                "id": "toolu_1_1",
                "name": "get_weather",
                "input": {"city": "Rome"},
            },
        ],
    }
    # Both results in the one user turn the API requires right after the tool_use turn.
    assert sent[2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1_0", "content": "-3C"},
            {"type": "tool_result", "tool_use_id": "toolu_1_1", "content": "18C"},
        ],
    }
    assert len(sent) == 3


@pytest.mark.parametrize("script", [[Structured({"title": "Durable agents", "score": 9})]])
async def test_structured_output_through_the_forced_tool(
    server: WireServer, model: AnthropicModel
) -> None:
    completion = await model.complete(ask("Rate it.", output_schema=SCHEMA))

    assert completion.structured == {"title": "Durable agents", "score": 9}
    assert completion.tool_calls == []
    body = server.received[0].body
    assert body["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}
    assert body["tools"][-1]["input_schema"] == SCHEMA


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (529, True), (400, False)]
)
async def test_http_errors(status: int, retryable: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    with WireServer("anthropic", [Fail(status, retry_after="2")], api_key=SECRET) as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        adapter = AnthropicModel(ModelSpec(provider="anthropic", model="claude-test"))
        try:
            with pytest.raises(ProviderError) as caught:
                await adapter.complete(ask("hi"))
        finally:
            await adapter.aclose()

    assert caught.value.retryable is retryable
    assert str(caught.value) == f"anthropic: HTTP {status}: scripted failure"
    # The engine's retry policy decides: the SDK must not retry (nor wait out retry-after).
    assert len(server.received) == 1


async def test_wrong_key_is_a_permanent_401(
    server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "sk-ant-test-WRONG"
    monkeypatch.setenv("ANTHROPIC_API_KEY", wrong)
    adapter = AnthropicModel(ModelSpec(provider="anthropic", model="claude-test"))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(ask("hi"))
    finally:
        await adapter.aclose()
    assert str(caught.value) == "anthropic: HTTP 401: invalid x-api-key"
    assert caught.value.retryable is False
    assert key_sent(server.received[0].headers) == wrong


@pytest.mark.parametrize("script", [[Stall(10)]])
async def test_timeout_is_retryable_and_bounded(server: WireServer, model: AnthropicModel) -> None:
    model.request_timeout = 0.3
    elapsed = stopwatch()
    with pytest.raises(ProviderError) as caught:
        await model.complete(ask("hi"))
    assert elapsed() < 5, "the call outlived its request_timeout"
    assert caught.value.retryable is True
    assert str(caught.value) == "anthropic: the request timed out"
    assert len(server.received) == 1


async def test_connection_refused_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    with WireServer("anthropic") as stopped:
        url = stopped.url
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    adapter = AnthropicModel(ModelSpec(provider="anthropic", model="claude-test"))
    try:
        with pytest.raises(ProviderError) as caught:
            await adapter.complete(ask("hi"))
    finally:
        await adapter.aclose()
    assert caught.value.retryable is True


@pytest.mark.parametrize("script", [[Fail(401, "invalid key", echo_key=True)]])
async def test_api_key_never_in_error_message(server: WireServer, model: AnthropicModel) -> None:
    with pytest.raises(ProviderError) as caught:
        await model.complete(ask("hi"))

    message = str(caught.value)
    assert message.startswith("anthropic: HTTP 401: invalid key (got key ")
    assert "***" in message, "the server did echo the key; the adapter scrubbed it"
    assert SECRET not in message
    assert caught.value.retryable is False
    assert caught.value.__cause__ is None or SECRET not in str(caught.value.__cause__)
