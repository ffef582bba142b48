"""A conversation of several turns with a tool call, through every provider's real SDK against
its local protocol server, asked whole and streamed: each turn's answer, and the last request in
the provider's own wire shape (roles, tool calls and their results where the API wants them)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")
pytest.importorskip("google.genai")
pytest.importorskip("ollama")
pytest.importorskip("uvicorn")

from agent_runtime.providers.base import ChatModel, ChatRequest, Completion, Delta, Message, ToolDef
from tests.providers.stubs import PROVIDERS, Ask, Step, stub

WEATHER = ToolDef(
    name="get_weather",
    description="Current weather for a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


async def answer(model: ChatModel, request: ChatRequest, *, streamed: bool) -> Completion:
    if not streamed:
        return await model.complete(request)
    chunks = [chunk async for chunk in model.stream(request)]
    *deltas, final = chunks
    assert isinstance(final, Completion) and all(isinstance(d, Delta) for d in deltas)
    assert "".join(d.text for d in deltas if isinstance(d, Delta)) == final.text
    assert len(deltas) == len(final.text.split())  # the servers send a text word by word
    return final


def shape(provider: str, body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Each turn of the request as (role, kinds of what it holds), in the provider's words."""
    if provider == "anthropic":
        return [(t["role"], [b["type"] for b in t["content"]]) for t in body["messages"]]
    if provider == "google":
        return [
            (c["role"], [next(k for k in p if k != "thoughtSignature") for p in c["parts"]])
            for c in body["contents"]
        ]
    return [
        (m["role"], ["tool_calls"] if m.get("tool_calls") else ["content"])
        for m in body["messages"]
    ]


OPENAI_SHAPE = [
    ("system", ["content"]),
    ("user", ["content"]),
    ("assistant", ["tool_calls"]),
    ("tool", ["content"]),
    ("assistant", ["content"]),
    ("user", ["content"]),
]
EXPECTED = {
    "openai": OPENAI_SHAPE,
    "ollama": OPENAI_SHAPE,
    # the system prompt apart; tool results in a user turn
    "anthropic": [
        ("user", ["text"]),
        ("assistant", ["tool_use"]),
        ("user", ["tool_result"]),
        ("assistant", ["text"]),
        ("user", ["text"]),
    ],
    "google": [
        ("user", ["text"]),
        ("model", ["functionCall"]),
        ("user", ["functionResponse"]),
        ("model", ["text"]),
        ("user", ["text"]),
    ],
}


def tool_result(provider: str, body: dict[str, Any]) -> tuple[str | None, str, str]:
    """The tool result as sent: (the call id it answers, the tool's name if sent, the text)."""
    if provider == "anthropic":
        block = body["messages"][2]["content"][0]
        return block["tool_use_id"], "", block["content"]
    if provider == "google":
        response = body["contents"][2]["parts"][0]["functionResponse"]
        return response.get("id"), response["name"], response["response"]["result"]
    message = body["messages"][3]
    return message.get("tool_call_id"), message.get("tool_name", ""), message["content"]


def system_prompt(provider: str, body: dict[str, Any]) -> str:
    if provider == "anthropic":
        return str(body["system"])
    if provider == "google":
        instruction = body.get("systemInstruction") or body["system_instruction"]
        return str(instruction["parts"][0]["text"])
    return str(body["messages"][0]["content"])


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_conversation_with_a_tool_call(
    provider: str, streamed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    script: list[Step] = [
        Ask("get_weather", {"city": "Oslo"}),
        "It is 4 degrees in Oslo.",
        "Colder: 1 degree.",
    ]
    async with stub(provider, script, monkeypatch) as server:
        convo = [
            Message(role="system", content="Be brief."),
            Message(role="user", content="Weather in Oslo?"),
        ]
        first = await answer(
            server.model, ChatRequest(messages=convo, tools=[WEATHER]), streamed=streamed
        )
        [call] = first.tool_calls
        assert (call.name, call.args) == ("get_weather", {"city": "Oslo"})
        convo += [
            Message(role="assistant", content=first.text, tool_calls=[call]),
            Message(role="tool", content="4 degrees", tool_call_id=call.id, name=call.name),
        ]
        second = await answer(
            server.model, ChatRequest(messages=convo, tools=[WEATHER]), streamed=streamed
        )
        assert second.text == "It is 4 degrees in Oslo." and not second.tool_calls
        convo += [
            Message(role="assistant", content=second.text),
            Message(role="user", content="And tomorrow?"),
        ]
        third = await answer(
            server.model, ChatRequest(messages=convo, tools=[WEATHER]), streamed=streamed
        )
        assert third.text == "Colder: 1 degree."
        assert third.usage.output_tokens == 3 and third.usage.input_tokens > 0
        bodies = server.bodies()

    assert len(bodies) == 3
    last = bodies[-1]
    if provider != "google":  # which Gemini method was called is in the path, not the body
        assert bool(last.get("stream")) == streamed
    assert shape(provider, last) == EXPECTED[provider]
    assert system_prompt(provider, last) == "Be brief."
    answered, name, text = tool_result(provider, last)
    assert text == "4 degrees"
    if provider in ("ollama", "google"):
        assert name == "get_weather"  # these APIs match a result to its call by the tool's name
    else:
        assert answered == call.id
    if provider == "openai":
        sent = last["messages"][2]["tool_calls"][0]
        assert sent["id"] == call.id and json.loads(sent["function"]["arguments"]) == call.args
