"""The stand-in servers' streams, read by each SDK's own stream parser.

Nothing of ours is under test here: these keep ``wire.py``'s streaming forms (Anthropic SSE
events, Gemini ``alt=sse`` chunks, Ollama NDJSON) faithful to what the SDKs parse, so that the
adapters' ``stream`` (``test_streams.py``) is tested against the real formats.
"""

from __future__ import annotations

import pytest

pytest.importorskip("anthropic")
pytest.importorskip("google.genai")
pytest.importorskip("ollama")
pytest.importorskip("uvicorn")

import anthropic
import ollama
from google import genai
from google.genai import types

from tests.providers.wire import Calls, WireServer, words

TEXT = "Streams arrive in several small pieces."
KEY = "test-key"


@pytest.mark.parametrize(
    "reply", [TEXT, Calls([("get_weather", {"city": "Oslo"})])], ids=["text", "tool_call"]
)
async def test_anthropic_sse(reply: str | Calls) -> None:
    with WireServer("anthropic", [reply], api_key=KEY) as server:
        client = anthropic.AsyncAnthropic(api_key=KEY, base_url=server.url, max_retries=0)
        try:
            async with client.messages.stream(
                model="claude-test", max_tokens=64, messages=[{"role": "user", "content": "Go"}]
            ) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
        finally:
            await client.close()

    assert server.received[0].body["stream"] is True
    if isinstance(reply, str):
        assert text == TEXT
        assert final.stop_reason == "end_turn"
        assert final.usage.output_tokens == words(TEXT)
    else:
        [block] = final.content
        assert block.type == "tool_use"
        assert (block.name, block.input) == ("get_weather", {"city": "Oslo"})
        assert final.stop_reason == "tool_use"
    assert final.usage.input_tokens == 1


@pytest.mark.parametrize(
    "reply", [TEXT, Calls([("get_weather", {"city": "Oslo"})])], ids=["text", "tool_call"]
)
async def test_gemini_sse(reply: str | Calls) -> None:
    with WireServer("gemini", [reply], api_key=KEY) as server:
        options = types.HttpOptions(base_url=server.url)
        client = genai.Client(api_key=KEY, http_options=options)
        try:
            chunks = [
                chunk
                async for chunk in await client.aio.models.generate_content_stream(
                    model="gemini-test", contents="Go"
                )
            ]
        finally:
            await client.aio.aclose()

    [got] = server.received
    assert got.path.endswith("/models/gemini-test:streamGenerateContent")
    assert got.query == {"alt": "sse"}
    last = chunks[-1]
    assert last.usage_metadata is not None and last.usage_metadata.prompt_token_count == 1
    if isinstance(reply, str):
        assert len(chunks) > 1
        assert "".join(c.text or "" for c in chunks) == TEXT
        assert last.usage_metadata.candidates_token_count == words(TEXT)
    else:
        [call] = last.function_calls or []
        assert (call.name, call.args) == ("get_weather", {"city": "Oslo"})


async def test_ollama_ndjson() -> None:
    with WireServer("ollama", [TEXT]) as server:
        client = ollama.AsyncClient(host=server.url)
        try:
            parts = [
                part
                async for part in await client.chat(
                    model="llama-test", messages=[{"role": "user", "content": "Go"}], stream=True
                )
            ]
        finally:
            await client.close()  # type: ignore[no-untyped-call]

    assert server.received[0].body["stream"] is True
    assert len(parts) > 2
    assert "".join(p.message.content or "" for p in parts) == TEXT
    assert parts[-1].done and parts[-1].eval_count == words(TEXT)
    assert not any(p.done for p in parts[:-1])
