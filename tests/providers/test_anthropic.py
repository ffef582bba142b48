"""The anthropic adapter's request building and answer parsing, with the SDK's own types."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytest.importorskip("anthropic")

import anthropic
from anthropic.types import Message as AnthropicMessage

from agent_runtime.providers.anthropic import (
    DEFAULT_MAX_TOKENS,
    OUTPUT_TOOL,
    build_params,
    map_error,
    parse_message,
)
from agent_runtime.providers.base import ChatRequest, Message, ProviderError, ToolCall, ToolDef
from agent_runtime.spec.workflow import ModelSpec

SPEC = ModelSpec(provider="anthropic", model="claude-test")
WEATHER = ToolDef(
    name="get_weather",
    description="Current weather.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


def message(*blocks: dict[str, Any], usage: dict[str, Any] | None = None) -> AnthropicMessage:
    return AnthropicMessage.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": list(blocks),
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage or {"input_tokens": 11, "output_tokens": 7},
        }
    )


def test_plain_request() -> None:
    request = ChatRequest(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="Hi"),
        ]
    )
    params = build_params(SPEC, request)
    assert params == {
        "model": "claude-test",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
    }


def test_options() -> None:
    spec = ModelSpec(provider="anthropic", model="claude-test", temperature=1.5, max_tokens=99)
    params = build_params(spec, ChatRequest(messages=[Message(role="user", content="Hi")]))
    assert params["max_tokens"] == 99
    assert params["temperature"] == 1.0, "clamped to Anthropic's range"


def test_tool_round_trip_payload() -> None:
    calls = [
        ToolCall(id="toolu_1", name="get_weather", args={"city": "Oslo"}),
        ToolCall(id="toolu_2", name="get_weather", args={"city": "Rome"}),
    ]
    request = ChatRequest(
        messages=[
            Message(role="user", content="Weather?"),
            Message(role="assistant", content="Checking.", tool_calls=calls),
            Message(role="tool", tool_call_id="toolu_1", content="-3C"),
            Message(role="tool", tool_call_id="toolu_2", content="18C"),
        ],
        tools=[WEATHER],
    )
    params = build_params(SPEC, request)

    assert params["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather.",
            "input_schema": WEATHER.parameters,
        }
    ]
    assert "tool_choice" not in params
    assert params["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    # Both results in the one user turn that follows.
    assert params["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "18C"},
        ],
    }
    assert len(params["messages"]) == 3


def test_structured_output_is_a_forced_tool() -> None:
    params = build_params(
        SPEC, ChatRequest(messages=[Message(role="user", content="Title?")], output_schema=SCHEMA)
    )
    assert params["tools"][-1]["name"] == OUTPUT_TOOL
    assert params["tools"][-1]["input_schema"] == SCHEMA
    assert params["tool_choice"] == {"type": "tool", "name": OUTPUT_TOOL}

    with_tools = build_params(
        SPEC,
        ChatRequest(
            messages=[Message(role="user", content="Title?")], tools=[WEATHER], output_schema=SCHEMA
        ),
    )
    assert [t["name"] for t in with_tools["tools"]] == ["get_weather", OUTPUT_TOOL]
    assert with_tools["tool_choice"] == {"type": "any"}


def test_a_tool_may_not_take_the_output_name() -> None:
    clash = ToolDef(name=OUTPUT_TOOL)
    request = ChatRequest(
        messages=[Message(role="user", content="x")], tools=[clash], output_schema=SCHEMA
    )
    with pytest.raises(ProviderError, match="output"):
        build_params(SPEC, request)


def test_parse_text_and_usage() -> None:
    completion = parse_message(
        message(
            {"type": "text", "text": "Hello "},
            {"type": "text", "text": "there."},
            usage={
                "input_tokens": 10,
                "output_tokens": 4,
                "cache_read_input_tokens": 5,
                "cache_creation_input_tokens": 2,
            },
        ),
        structured=False,
    )
    assert completion.text == "Hello there."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (17, 4)
    assert completion.model == "claude-test"


def test_parse_tool_calls() -> None:
    completion = parse_message(
        message(
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Oslo"}},
        ),
        structured=False,
    )
    assert completion.tool_calls == [
        ToolCall(id="toolu_9", name="get_weather", args={"city": "Oslo"})
    ]
    assert completion.text == "Let me check."


def test_parse_structured_from_the_output_tool() -> None:
    completion = parse_message(
        message(
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "x"}},
            {"type": "tool_use", "id": "toolu_2", "name": OUTPUT_TOOL, "input": {"title": "Done"}},
        ),
        structured=True,
    )
    assert completion.structured == {"title": "Done"}
    assert completion.tool_calls == []


def test_parse_structured_falls_back_to_json_text() -> None:
    good = parse_message(message({"type": "text", "text": '{"title": "T"}'}), structured=True)
    assert good.structured == {"title": "T"}
    with pytest.raises(ProviderError, match="not JSON"):
        parse_message(message({"type": "text", "text": "no json"}), structured=True)


def _status_error(status: int, text: str) -> anthropic.APIStatusError:
    request = httpx.Request("POST", "https://api.anthropic.com/v1/messages")
    response = httpx.Response(status, request=request, headers={"x-api-key": "sk-ant-SECRET"})
    body = {"type": "error", "error": {"type": "some_error", "message": text}}
    return anthropic.APIStatusError(f"Error code: {status}", response=response, body=body)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (529, True), (400, False), (401, False)]
)
def test_status_errors(status: int, retryable: bool) -> None:
    error = map_error(_status_error(status, "scripted failure"))
    assert error.retryable is retryable
    assert str(error) == f"anthropic: HTTP {status}: scripted failure"
    assert "SECRET" not in str(error)


def test_connection_errors_are_retryable() -> None:
    request = httpx.Request("POST", "https://api.anthropic.com/v1/messages")
    assert map_error(anthropic.APIConnectionError(request=request)).retryable is True  # type: ignore[arg-type]
    assert map_error(anthropic.APITimeoutError(request=request)).retryable is True  # type: ignore[arg-type]
