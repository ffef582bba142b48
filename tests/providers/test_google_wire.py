"""The google adapter through the real ``google-genai`` SDK against a local Gemini API server.

``complete`` calls ``generateContent``; ``stream`` (``streamGenerateContent``) is tested in
``test_streams.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

pytest.importorskip("google.genai")
pytest.importorskip("uvicorn")

from agent_runtime.providers.google import SIGNATURE_MARK, GoogleModel
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
from tests.providers.wire import (
    SIGNATURE,
    Calls,
    Fail,
    Hangup,
    Reply,
    Stall,
    Structured,
    WireServer,
    proto_field,
    signature_of,
    stopwatch,
)

SECRET = "AIza-test-SECRET"


def point_sdk_at(url: str, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK's own variables: the Gemini API (not Vertex AI) at ``url`` with ``key``."""
    monkeypatch.setenv("GOOGLE_API_KEY", key)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", url)
    for name in ("GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def script() -> list[Reply]:
    return []


@pytest.fixture
def server(script: list[Reply], monkeypatch: pytest.MonkeyPatch) -> Iterator[WireServer]:
    with WireServer("gemini", script, api_key=SECRET) as running:
        point_sdk_at(running.url, SECRET, monkeypatch)
        yield running


@pytest.fixture
async def model(server: WireServer) -> AsyncIterator[GoogleModel]:
    adapter = GoogleModel(ModelSpec(provider="google", model="gemini-test"))
    yield adapter
    await adapter.aclose()


@pytest.mark.parametrize("script", [["The answer is forty two."]])
async def test_text_answer_usage_and_headers(server: WireServer, model: GoogleModel) -> None:
    completion = await model.complete(brief())

    assert completion.text == "The answer is forty two."
    assert completion.tool_calls == [] and completion.structured is None
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (7, 5)
    assert completion.model == "gemini-test-001"
    [got] = server.received
    assert got.path.endswith("/models/gemini-test:generateContent")
    assert got.headers["x-goog-api-key"] == SECRET
    assert got.body["contents"] == [
        {"role": "user", "parts": [{"text": "What is six times seven?"}]}
    ]
    assert got.body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert "tools" not in got.body


@pytest.mark.parametrize(
    "script",
    [[Calls([("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"})]), "Cold."]],
)
async def test_tool_call_round_trip_keeps_the_thought_signature(
    server: WireServer, model: GoogleModel
) -> None:
    first = await model.complete(ask(WEATHER_QUESTION, tools=[WEATHER]))

    assert [(c.name, c.args) for c in first.tool_calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert all(SIGNATURE_MARK in c.id for c in first.tool_calls)
    assert first.usage.output_tokens == 4
    [declaration] = server.received[0].body["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "get_weather"
    assert proto_field(declaration, "parametersJsonSchema") == WEATHER.parameters

    follow_up = weather_results(first.tool_calls, named=False)
    # The server answers 400, as Gemini 3 does, if a call comes back without its signature.
    second = await model.complete(follow_up)

    assert second.text == "Cold."
    sent = server.received[1].body["contents"]
    assert sent[1]["role"] == "model"
    assert [p["functionCall"] for p in sent[1]["parts"]] == [
        {"name": "get_weather", "args": {"city": "Oslo"}},
        {"name": "get_weather", "args": {"city": "Rome"}},
    ]
    assert [signature_of(p) for p in sent[1]["parts"]] == [SIGNATURE, SIGNATURE]
    # Ids the API never gave are not sent back; both results share the one user turn.
    assert sent[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "-3C"}}},
            {"functionResponse": {"name": "get_weather", "response": {"result": "18C"}}},
        ],
    }
    assert len(sent) == 3


@pytest.mark.parametrize("script", [[Structured({"title": "Durable agents", "score": 9})]])
async def test_structured_output(server: WireServer, model: GoogleModel) -> None:
    completion = await model.complete(ask("Rate it.", output_schema=SCHEMA))

    assert completion.structured == {"title": "Durable agents", "score": 9}
    config = server.received[0].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == SCHEMA


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (401, False)]
)
async def test_http_errors(status: int, retryable: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    with WireServer("gemini", [Fail(status, retry_after="2")], api_key=SECRET) as server:
        point_sdk_at(server.url, SECRET, monkeypatch)
        adapter = GoogleModel(ModelSpec(provider="google", model="gemini-test"))
        try:
            error = await fails(adapter, ask("hi"))
        finally:
            await adapter.aclose()

    assert error.retryable is retryable
    assert str(error) == f"google: HTTP {status}: scripted failure"
    # The engine's retry policy decides: the SDK must not retry (nor wait out retry-after).
    assert len(server.received) == 1


async def test_wrong_key_is_permanent(server: WireServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIza-test-WRONG")
    adapter = GoogleModel(ModelSpec(provider="google", model="gemini-test"))
    try:
        error = await fails(adapter, ask("hi"))
    finally:
        await adapter.aclose()
    assert str(error) == "google: HTTP 400: API key not valid. Please pass a valid API key."
    assert error.retryable is False
    assert server.received[0].headers["x-goog-api-key"] == "AIza-test-WRONG"


@pytest.mark.parametrize("script", [[Stall(10)]])
async def test_timeout_is_retryable_and_bounded(server: WireServer, model: GoogleModel) -> None:
    model.request_timeout = 0.3
    elapsed = stopwatch()
    error = await fails(model, ask("hi"))
    assert elapsed() < 5, "the call outlived its request_timeout"
    assert error.retryable is True
    assert len(server.received) == 1


async def test_a_dropped_connection_is_retryable_and_tried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Hangup() as proxy:
        point_sdk_at(proxy.url, SECRET, monkeypatch)
        adapter = GoogleModel(ModelSpec(provider="google", model="gemini-test"))
        try:
            error = await fails(adapter, ask("hi"))
        finally:
            await adapter.aclose()
    assert error.retryable is True
    # Left alone, the SDK's aiohttp transport sleeps 1-10 s and connects again by itself.
    assert proxy.connections == 1


async def test_connection_refused_is_retryable(monkeypatch: pytest.MonkeyPatch) -> None:
    with WireServer("gemini") as stopped:
        url = stopped.url
    point_sdk_at(url, SECRET, monkeypatch)
    adapter = GoogleModel(ModelSpec(provider="google", model="gemini-test"))
    try:
        error = await fails(adapter, ask("hi"))
    finally:
        await adapter.aclose()
    assert error.retryable is True


@pytest.mark.parametrize("script", [[Fail(401, "invalid key", echo_key=True)]])
async def test_api_key_never_in_error_message(server: WireServer, model: GoogleModel) -> None:
    error = await fails(model, ask("hi"))

    assert str(error).startswith("google: HTTP 401: invalid key (got key ")
    assert "***" in str(error), "the server did echo the key; the adapter scrubbed it"
    assert SECRET not in str(error)
    assert error.retryable is False
    assert error.__cause__ is None or SECRET not in str(error.__cause__)


@pytest.mark.parametrize("script", [[Stall(10)]])
async def test_timeout_says_so(model: GoogleModel) -> None:
    model.request_timeout = 0.3
    assert str(await fails(model, ask("hi"))) == "google: the request timed out"
