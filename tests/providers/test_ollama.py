"""The ollama adapter's request building and answer parsing, with the SDK's own types."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("ollama")

import ollama

from agent_runtime.providers.base import ChatRequest, Message, ProviderError, ToolCall, ToolDef
from agent_runtime.providers.ollama import (
    OllamaModel,
    build_params,
    map_error,
    parse_response,
)
from agent_runtime.spec.workflow import ModelSpec

SPEC = ModelSpec(provider="ollama", model="llama-test")
WEATHER = ToolDef(
    name="get_weather",
    description="Current weather.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


def chat_response(message: dict[str, object]) -> object:
    return ollama.ChatResponse.model_validate(
        {
            "model": "llama-test",
            "done": True,
            "prompt_eval_count": 21,
            "eval_count": 6,
            "message": {"role": "assistant", **message},
        }
    )


def test_plain_request_with_options() -> None:
    spec = ModelSpec(provider="ollama", model="llama-test", temperature=0.1, max_tokens=32)
    params = build_params(spec, ChatRequest(messages=[Message(role="user", content="Hi")]))
    assert params == {
        "model": "llama-test",
        "messages": [{"role": "user", "content": "Hi"}],
        "options": {"temperature": 0.1, "num_predict": 32},
    }


def test_tools_structured_output_and_tool_results() -> None:
    calls = [ToolCall(id="call_0", name="get_weather", args={"city": "Oslo"})]
    params = build_params(
        SPEC,
        ChatRequest(
            messages=[
                Message(role="user", content="Weather?"),
                Message(role="assistant", tool_calls=calls),
                Message(role="tool", tool_call_id="call_0", content="-3C"),
            ],
            tools=[WEATHER],
            output_schema=SCHEMA,
        ),
    )
    assert params["format"] == SCHEMA
    assert params["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather.",
                "parameters": WEATHER.parameters,
            },
        }
    ]
    assert params["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
    }
    assert params["messages"][2] == {"role": "tool", "content": "-3C", "tool_name": "get_weather"}
    assert "options" not in params


def test_parse_text_and_usage() -> None:
    completion = parse_response(chat_response({"content": "Hello."}), structured=False)  # type: ignore[arg-type]
    assert completion.text == "Hello."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (21, 6)
    assert completion.model == "llama-test"


def test_parse_tool_calls_get_numbered_ids() -> None:
    answer = chat_response(
        {
            "content": "",
            "tool_calls": [
                {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}},
                {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
            ],
        }
    )
    completion = parse_response(answer, structured=True)  # type: ignore[arg-type]
    assert completion.tool_calls == [
        ToolCall(id="call_0", name="get_weather", args={"city": "Oslo"}),
        ToolCall(id="call_1", name="get_weather", args={"city": "Rome"}),
    ]
    assert completion.structured is None


def test_parse_structured() -> None:
    good = parse_response(chat_response({"content": '{"title": "T"}'}), structured=True)  # type: ignore[arg-type]
    assert good.structured == {"title": "T"}
    with pytest.raises(ProviderError, match="not JSON"):
        parse_response(chat_response({"content": "nope"}), structured=True)  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "retryable"), [(429, True), (500, True), (404, False)])
def test_response_errors(status: int, retryable: bool) -> None:
    error = map_error(ollama.ResponseError('{"error": "scripted failure"}', status))
    assert error.retryable is retryable
    assert str(error) == f"ollama: HTTP {status}: scripted failure"


async def test_unreachable_server_is_retryable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, so nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OllamaModel(
        ModelSpec(provider="ollama", model="m", base_url=f"http://127.0.0.1:{port}")
    )
    try:
        with pytest.raises(ProviderError) as caught:
            await model.complete(ChatRequest(messages=[Message(role="user", content="Hi")]))
    finally:
        await model.aclose()
    assert caught.value.retryable is True
