"""OpenAI-compatible chat at /openai/v1 through the real ``openai`` client: models, a completion,
streaming, a conversation kept on a thread, and errors in OpenAI's shape naming the field."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam as Message

from tests.gateway.conftest import GatewayProcess


@pytest.fixture
def client(start_gateway: Callable[..., GatewayProcess], sqlite_url: str) -> openai.OpenAI:
    gateway = start_gateway(sqlite_url)
    return openai.OpenAI(base_url=f"{gateway.url}/openai/v1", api_key="unused", max_retries=0)


def test_a_conversation_workflow_is_a_model_that_answers_and_streams(
    client: openai.OpenAI,
) -> None:
    assert [m.id for m in client.models.list()] == ["default/chat"]  # one messages input
    assert client.models.retrieve("default/chat").owned_by == "default"
    asked: list[Message] = [{"role": "user", "content": "What is 6 times 7?"}]
    answer = client.chat.completions.create(model="default/chat", messages=asked)
    assert answer.choices[0].message.content == "6 times 7 is 42."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None and answer.usage.total_tokens > 0
    parts = list(
        client.chat.completions.create(
            model="default/chat",
            messages=asked,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert text == "6 times 7 is 42."
    assert parts[-2].choices[0].finish_reason == "stop"
    assert parts[-1].choices == [] and parts[-1].usage is not None


def test_a_conversation_is_kept_on_a_thread(client: openai.OpenAI) -> None:
    history: list[Message] = []
    for turn in range(3):
        history.append({"role": "user", "content": f"turn {turn}"})
        answer = client.chat.completions.create(
            model="default/chat", messages=history, metadata={"thread_id": "openai-chat"}
        )
        history.append({"role": "assistant", "content": answer.choices[0].message.content or ""})
    base = str(client.base_url).removesuffix("/openai/v1/")
    thread = httpx.get(f"{base}/v1/threads/openai-chat").json()
    said = [m["content"] for m in thread["values"]["messages"] if m["role"] == "user"]
    assert said == ["turn 0", "turn 1", "turn 2"]  # each user message once, in order


def test_errors_are_openais_naming_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(
            model="default/no-such", messages=[{"role": "user", "content": "x"}]
        )
    assert unknown.value.body == {
        "message": "The model `default/no-such` does not exist or you do not have access to it",
        "type": "not_found_error",
        "param": "model",
        "code": "model_not_found",
    }
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(
            model="default/linear-chain", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="default/chat",
            messages=[{"role": "robot", "content": "x"}],  # type: ignore[list-item,misc]
        )
    assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "messages[0].role"
    with pytest.raises(openai.BadRequestError) as empty:
        client.chat.completions.create(model="default/chat", messages=[])
    assert isinstance(empty.value.body, dict) and empty.value.body["param"] == "messages"
    with pytest.raises(openai.BadRequestError) as many:
        client.chat.completions.create(
            model="default/chat", messages=[{"role": "user", "content": "x"}], n=2
        )
    assert isinstance(many.value.body, dict) and many.value.body["param"] == "n"
