"""The ollama adapter through the real ``ollama`` SDK against a local Ollama API server.

The adapter asks for one whole answer (``"stream": false``), so the NDJSON stream Ollama sends by
default is not exercised through the adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("ollama")
pytest.importorskip("uvicorn")

from agent_runtime.providers.ollama import OllamaModel
from agent_runtime.spec.workflow import ModelSpec
from tests.providers.asks import (
    SCHEMA,
    WEATHER,
    WEATHER_QUESTION,
    ask,
    brief,
    fails,
    weather_results,
)
from tests.providers.wire import Calls, Fail, Reply, Stall, Structured, WireServer, stopwatch

#: Only Ollama's hosted service takes a key (OLLAMA_API_KEY, sent as a bearer token).
SECRET = "ollama-test-SECRET"


@pytest.fixture(autouse=True)
def _no_ollama_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


@pytest.fixture
def script() -> list[Reply]:
    return []


@pytest.fixture
def server(script: list[Reply]) -> Iterator[WireServer]:
    with WireServer("ollama", script) as running:
        yield running


def spec(url: str, **options: object) -> ModelSpec:
    return ModelSpec(provider="ollama", model="llama-test", base_url=url, **options)  # type: ignore[arg-type]


@pytest.fixture
async def model(server: WireServer) -> AsyncIterator[OllamaModel]:
    adapter = OllamaModel(spec(server.url))
    yield adapter
    await adapter.aclose()


@pytest.mark.parametrize("script", [["The answer is forty two."]])
async def test_text_answer_usage_and_request(server: WireServer, model: OllamaModel) -> None:
    completion = await model.complete(brief())

    assert completion.text == "The answer is forty two."
    assert completion.tool_calls == [] and completion.structured is None
    # prompt_eval_count and eval_count: 2 + 5 words in, 5 out.
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 5)
    assert completion.model == "llama-test"
    [got] = server.received
    assert got.path == "/api/chat"
    assert "authorization" not in got.headers
    assert got.body["model"] == "llama-test"
    assert got.body["stream"] is False
    assert got.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is six times seven?"},
    ]
    assert not got.body.get("tools") and got.body.get("format") is None


@pytest.mark.parametrize(
    "script",
    [[Calls([("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]), "Cold."]],
)
async def test_tool_call_round_trip(server: WireServer, model: OllamaModel) -> None:
    first = await model.complete(ask(WEATHER_QUESTION, tools=[WEATHER]))

    # Ollama gives calls no ids; the adapter numbers them.
    assert [(c.id, c.name, c.args) for c in first.tool_calls] == [
        ("call_0", "get_weather", {"city": "Oslo"}),
        ("call_1", "get_weather", {"city": "Rome"}),
    ]
    assert first.usage.output_tokens == 4
    assert server.received[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": WEATHER.parameters,
            },
        }
    ]

    follow_up = weather_results(first.tool_calls)
    second = await model.complete(follow_up)

    assert second.text == "Cold."
    sent = server.received[1].body["messages"]
    assert sent[1]["role"] == "assistant"
    assert [c["function"] for c in sent[1]["tool_calls"]] == [
        {"name": "get_weather", "arguments": {"city": "Oslo"}},
        {"name": "get_weather", "arguments": {"city": "Rome"}},
    ]
    # Tool results are ``tool`` messages naming their tool.
    assert sent[2:] == [
        {"role": "tool", "content": "-3C", "tool_name": "get_weather"},
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ]


@pytest.mark.parametrize("script", [[Structured({"title": "Durable agents", "score": 9})]])
async def test_structured_output_and_options(server: WireServer) -> None:
    adapter = OllamaModel(spec(server.url, temperature=0.3, max_tokens=50))
    try:
        completion = await adapter.complete(ask("Rate it.", output_schema=SCHEMA))
    finally:
        await adapter.aclose()

    assert completion.structured == {"title": "Durable agents", "score": 9}
    body = server.received[0].body
    assert body["format"] == SCHEMA
    assert body["options"] == {"temperature": 0.3, "num_predict": 50}


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (404, False)]
)
async def test_http_errors(status: int, retryable: bool) -> None:
    with WireServer("ollama", [Fail(status, retry_after="2")]) as server:
        adapter = OllamaModel(spec(server.url))
        try:
            error = await fails(adapter, ask("hi"))
        finally:
            await adapter.aclose()

    assert error.retryable is retryable
    assert str(error) == f"ollama: HTTP {status}: scripted failure"
    assert len(server.received) == 1


@pytest.mark.parametrize("script", [[Stall(10)]])
async def test_timeout_is_retryable_and_bounded(server: WireServer, model: OllamaModel) -> None:
    model.request_timeout = 0.3
    elapsed = stopwatch()
    error = await fails(model, ask("hi"))
    assert elapsed() < 5, "the call outlived its request_timeout"
    assert error.retryable is True
    assert str(error) == "ollama: the request timed out"
    assert len(server.received) == 1


async def test_connection_refused_is_retryable() -> None:
    with WireServer("ollama") as stopped:
        url = stopped.url
    adapter = OllamaModel(spec(url))
    try:
        error = await fails(adapter, ask("hi"))
    finally:
        await adapter.aclose()
    assert error.retryable is True
    assert str(error) == "ollama: could not connect to the server"


async def test_api_key_never_in_error_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", SECRET)
    with WireServer("ollama", [Fail(401, "unauthorized", echo_key=True)]) as server:
        adapter = OllamaModel(spec(server.url))
        try:
            error = await fails(adapter, ask("hi"))
        finally:
            await adapter.aclose()

    assert server.received[0].headers["authorization"] == f"Bearer {SECRET}"
    assert str(error) == "ollama: HTTP 401: unauthorized (got key Bearer ***)"
    assert error.retryable is False
    assert error.__cause__ is None or SECRET not in str(error.__cause__)
