"""``ChatModel.stream`` of every provider through its real SDK against its local protocol server
(OpenAI and Anthropic SSE, Gemini ``streamGenerateContent``, Ollama NDJSON), and of the scripted
model: text in pieces as it comes, then the same answer ``complete`` gives."""

from __future__ import annotations

import asyncio
import time

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")
pytest.importorskip("ollama")
pytest.importorskip("uvicorn")

from agent_runtime.providers.base import (
    ChatModel,
    ChatRequest,
    Completion,
    Delta,
    Message,
    ProviderError,
    StreamChunk,
)
from agent_runtime.providers.openai import OpenAIModel
from agent_runtime.providers.scripted import ScriptedModel
from agent_runtime.spec.workflow import ModelSpec
from agent_runtime.testing.openai_server import TextReply, completion_body
from agent_runtime.testing.threaded import ThreadedServer
from tests.providers.stubs import KEY, PROVIDERS, Answer, Error, stub
from tests.providers.wire import words

TEXT = "Tokens arrive one small piece at a time."
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["title", "score"],
}
ASK = ChatRequest(
    messages=[Message(role="system", content="Be brief."), Message(role="user", content="Go on")]
)


async def chunks(model: ChatModel, request: ChatRequest) -> list[StreamChunk]:
    return [chunk async for chunk in model.stream(request)]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_text_streams_in_pieces_then_the_whole_answer(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with stub(provider, [TEXT], monkeypatch) as server:
        *deltas, final = await chunks(server.model, ASK)
        whole = await server.model.complete(ASK)

    assert all(isinstance(d, Delta) for d in deltas) and len(deltas) == words(TEXT)
    assert "".join(d.text for d in deltas if isinstance(d, Delta)) == TEXT
    assert isinstance(final, Completion)
    # the streamed answer is the one complete() gives: text, usage, model
    assert final.model_dump(exclude={"model"}) == whole.model_dump(exclude={"model"})
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, words(TEXT))
    assert final.model.startswith(whole.model) or whole.model.startswith(final.model)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_structured_answer_streams_no_text(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = ASK.model_copy(update={"output_schema": SCHEMA})
    async with stub(provider, [Answer({"title": "Leases", "score": 8})], monkeypatch) as server:
        [final] = await chunks(server.model, request)
    assert isinstance(final, Completion)
    assert final.structured == {"title": "Leases", "score": 8} and final.text == ""


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_stream_is_a_provider_error(
    provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with stub(provider, [Error(429)], monkeypatch) as server:
        with pytest.raises(ProviderError) as caught:
            await chunks(server.model, ASK)
    assert caught.value.retryable and "429" in str(caught.value)
    assert KEY not in str(caught.value)


async def test_an_openai_server_that_ignores_stream_is_an_error_not_an_empty_answer() -> None:
    """Some OpenAI-compatible servers answer ``stream: true`` with one JSON body, which the SDK
    reads as no events; taken as an answer, it would end a tool-calling node with nothing."""

    async def whole(request: Request) -> JSONResponse:
        return JSONResponse(completion_body(await request.json(), TextReply(TEXT), 1))

    app = Starlette(routes=[Route("/v1/chat/completions", whole, methods=["POST"])])
    with ThreadedServer(app) as server:
        spec = ModelSpec(provider="openai", model="m", base_url=f"{server.url}/v1")
        model = OpenAIModel(spec)
        try:
            with pytest.raises(ProviderError, match="no chunks for a streamed request"):
                await chunks(model, ASK)
            assert (await model.complete(ASK)).text == TEXT
        finally:
            await model.aclose()


async def test_scripted_streams_word_by_word_with_its_delay_spread() -> None:
    model = ScriptedModel(ModelSpec(provider="scripted", responses=[TEXT], delay=0.4))
    started, seen = time.monotonic(), []
    async for chunk in model.stream(ASK):
        seen.append((time.monotonic() - started, chunk))
    *deltas, (ended, final) = seen
    assert [c.text for _, c in deltas if isinstance(c, Delta)] == [
        "Tokens ", "arrive ", "one ", "small ", "piece ", "at ", "a ", "time.",
    ]  # fmt: skip
    assert deltas[0][0] < 0.2  # the first word long before the whole delay
    assert 0.35 < ended < 1.5
    assert isinstance(final, Completion) and final.text == TEXT
    assert final == await model.complete(ASK)


async def test_scripted_tool_calls_and_structured_answers_come_whole() -> None:
    calls = [{"toolCalls": [{"name": "f", "args": {"a": 1}}]}]
    model = ScriptedModel(ModelSpec(provider="scripted", responses=calls, delay=0.05))
    [final] = [c async for c in model.stream(ASK)]
    assert isinstance(final, Completion) and [c.name for c in final.tool_calls] == ["f"]
    structured = ScriptedModel(ModelSpec(provider="scripted", responses=[{"title": "x"}]))
    request = ASK.model_copy(update={"output_schema": SCHEMA})
    assert [c async for c in structured.stream(request)] == [await structured.complete(request)]


async def test_a_consumer_may_stop_early() -> None:
    model = ScriptedModel(ModelSpec(provider="scripted", responses=[TEXT], delay=5))
    stream = model.stream(ASK)
    first = await asyncio.wait_for(anext(stream), timeout=2)
    await stream.aclose()  # type: ignore[attr-defined]
    assert first == Delta(text="Tokens ")
