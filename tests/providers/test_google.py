"""The google adapter's request building and answer parsing, with google-genai's own types."""

from __future__ import annotations

import pytest

pytest.importorskip("google.genai")

from google.genai import errors, types

from agent_runtime.providers.base import ChatRequest, Message, ProviderError, ToolCall, ToolDef
from agent_runtime.providers.google import (
    SYNTHETIC_PREFIX,
    GoogleModel,
    build_request,
    decode_call_id,
    map_error,
    parse_response,
)
from agent_runtime.spec.workflow import ModelSpec

SPEC = ModelSpec(provider="google", model="gemini-test")
WEATHER = ToolDef(
    name="get_weather",
    description="Current weather.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)
SCHEMA = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}


def response(
    *parts: types.Part, usage: types.GenerateContentResponseUsageMetadata | None = None
) -> types.GenerateContentResponse:
    return types.GenerateContentResponse(
        candidates=[types.Candidate(content=types.Content(role="model", parts=list(parts)))],
        usage_metadata=usage
        or types.GenerateContentResponseUsageMetadata(
            prompt_token_count=12, candidates_token_count=3
        ),
        model_version="gemini-test-001",
    )


def test_plain_request() -> None:
    spec = ModelSpec(provider="google", model="gemini-test", temperature=0.4, max_tokens=77)
    contents, config = build_request(
        spec,
        ChatRequest(
            messages=[
                Message(role="system", content="Be brief."),
                Message(role="user", content="Hi"),
            ]
        ),
    )
    assert contents == [types.Content(role="user", parts=[types.Part(text="Hi")])]
    assert config.system_instruction == "Be brief."
    assert (config.temperature, config.max_output_tokens) == (0.4, 77)
    assert config.tools is None and config.response_mime_type is None


def test_tools_and_structured_output_config() -> None:
    _, config = build_request(
        SPEC,
        ChatRequest(
            messages=[Message(role="user", content="Hi")], tools=[WEATHER], output_schema=SCHEMA
        ),
    )
    assert config.tools is not None
    tool = config.tools[0]
    assert isinstance(tool, types.Tool) and tool.function_declarations
    declaration = tool.function_declarations[0]
    assert declaration.name == "get_weather"
    assert declaration.description == "Current weather."
    assert declaration.parameters_json_schema == WEATHER.parameters
    assert config.response_mime_type == "application/json"
    assert config.response_json_schema == SCHEMA


def test_parse_text_usage_and_thoughts() -> None:
    completion = parse_response(
        response(
            types.Part(text="thinking hard", thought=True),
            types.Part(text="Hello."),
            usage=types.GenerateContentResponseUsageMetadata(
                prompt_token_count=12, candidates_token_count=3, thoughts_token_count=5
            ),
        ),
        structured=False,
    )
    assert completion.text == "Hello."
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 8)
    assert completion.model == "gemini-test-001"


def test_parse_structured() -> None:
    ok = parse_response(response(types.Part(text='{"title": "T"}')), structured=True)
    assert ok.structured == {"title": "T"}
    with pytest.raises(ProviderError, match="not JSON"):
        parse_response(response(types.Part(text="nope")), structured=True)


def test_tool_call_round_trip_keeps_the_thought_signature() -> None:
    signature = b"\x00opaque-signature\xff"
    first = parse_response(
        response(
            types.Part(
                function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}),
                thought_signature=signature,
            ),
            types.Part(
                function_call=types.FunctionCall(
                    id="fc_2", name="get_weather", args={"city": "Rome"}
                )
            ),
        ),
        structured=False,
    )
    assert [(c.name, c.args) for c in first.tool_calls] == [
        ("get_weather", {"city": "Oslo"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert first.tool_calls[0].id.startswith(SYNTHETIC_PREFIX)
    assert decode_call_id(first.tool_calls[0].id) == (None, signature)
    assert first.tool_calls[1].id == "fc_2"

    contents, _ = build_request(
        SPEC,
        ChatRequest(
            messages=[
                Message(role="user", content="Weather?"),
                Message(role="assistant", tool_calls=first.tool_calls),
                Message(role="tool", tool_call_id=first.tool_calls[0].id, content="-3C"),
                Message(role="tool", tool_call_id="fc_2", name="get_weather", content="18C"),
            ],
            tools=[WEATHER],
        ),
    )
    assert [c.role for c in contents] == ["user", "model", "user"]
    model_parts = contents[1].parts or []
    assert model_parts[0].thought_signature == signature
    assert model_parts[0].function_call == types.FunctionCall(
        name="get_weather", args={"city": "Oslo"}
    )
    assert model_parts[1].function_call is not None and model_parts[1].function_call.id == "fc_2"
    results = [p.function_response for p in contents[2].parts or []]
    assert results == [
        types.FunctionResponse(name="get_weather", response={"result": "-3C"}),
        types.FunctionResponse(id="fc_2", name="get_weather", response={"result": "18C"}),
    ]


def test_tool_message_without_a_known_tool_name() -> None:
    request = ChatRequest(messages=[Message(role="tool", tool_call_id="unknown", content="x")])
    with pytest.raises(ProviderError, match="name"):
        build_request(SPEC, request)


def test_no_candidates() -> None:
    blocked = types.GenerateContentResponse(
        candidates=[],
        prompt_feedback=types.GenerateContentResponsePromptFeedback(
            block_reason=types.BlockedReason.SAFETY
        ),
    )
    with pytest.raises(ProviderError, match="blocked"):
        parse_response(blocked, structured=False)


@pytest.mark.parametrize(
    ("status", "retryable"), [(429, True), (500, True), (503, True), (400, False), (403, False)]
)
def test_api_errors(status: int, retryable: bool) -> None:
    cls = errors.ServerError if status >= 500 else errors.ClientError
    exc = cls(status, {"error": {"code": status, "message": "scripted failure", "status": "X"}})
    error = map_error(exc)
    assert error.retryable is retryable
    assert str(error) == f"google: HTTP {status}: scripted failure"


def test_transport_errors_are_retryable() -> None:
    assert map_error(ConnectionError("refused")).retryable is True
    assert map_error(TimeoutError()).retryable is True


async def test_missing_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(variable, raising=False)
    model = GoogleModel(SPEC)
    with pytest.raises(ProviderError) as caught:
        await model.complete(ChatRequest(messages=[Message(role="user", content="Hi")]))
    assert caught.value.retryable is False


def test_tool_call_model_is_ours() -> None:
    # Guard against the parser leaking SDK objects into the neutral types.
    completion = parse_response(
        response(types.Part(function_call=types.FunctionCall(id="a", name="n", args={"k": [1]}))),
        structured=False,
    )
    assert completion.tool_calls == [ToolCall(id="a", name="n", args={"k": [1]})]
