"""An llm node's ``messages``: what the model is sent (system, the conversation, the prompt last),
what the run appends (tool rounds, then the answer, each with an id), the next turn sent again
with the whole conversation, and the conversation in the task request to an agent over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openai")
pytest.importorskip("uvicorn")

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.engine.remote import HttpDispatcher, StaticEndpoints
from agent_runtime.stores import RunStatus, open_store
from agent_runtime.testing.openai_server import OpenAICompatibleServer, ToolCallsReply
from agent_runtime.testing.runner import WorkflowRunner
from tests.agent.harness import agents
from tests.engine.conftest import workflow

SPEC = """
state:
  messages: {type: messages}
  topic: {type: string}
input: [messages, topic]
output: [messages]
models:
  default: {provider: openai, model: gpt-test, baseUrl: "URL"}
tools:
  - {name: calculate, function: "agent_runtime.tools.library:calculate"}
nodes:
  - name: chat
    type: llm
    system: "Be brief about {{ topic }}."
    messages: messages
    prompt: Answer in one line.
    tools: [calculate]
    output: messages
edges:
  - {from: START, to: chat}
  - {from: chat, to: END}
"""


def sent(body: dict[str, Any]) -> list[tuple[str, str]]:
    """A request's messages as (role, content or the tools called)."""
    return [
        (m["role"], m["content"] or ",".join(c["function"]["name"] for c in m["tool_calls"]))
        for m in body["messages"]
    ]


async def test_two_turns_send_the_whole_conversation_and_append_the_replies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    script = [
        ToolCallsReply([{"name": "calculate", "args": {"expression": "6 * 7"}, "id": "c1"}]),
        "It is 42.",
        "Yes: 42.",
    ]
    with OpenAICompatibleServer(script=script) as server:
        chat = workflow(SPEC.replace("URL", server.base_url))
        dispatcher = LocalDispatcher()
        try:
            async with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
                engine = Engine(store, dispatcher)
                given = {"messages": "What is 6 times 7?", "topic": "math"}
                first = await engine.execute((await engine.create_run(chat, given)).id)
                assert first.status == RunStatus.SUCCEEDED, first.error
                assert first.output is not None
                convo = first.output["messages"]
                again = {
                    "messages": [*convo, {"type": "human", "content": "Sure?"}],
                    "topic": "math",
                }
                second = await engine.execute((await engine.create_run(chat, again)).id)
        finally:
            await dispatcher.aclose()
        bodies = server.requests

    assert [(m["role"], m.get("toolCallId")) for m in convo] == [
        ("user", None),
        ("assistant", None),
        ("tool", "c1"),
        ("assistant", None),
    ]
    assert convo[1]["toolCalls"] == [
        {"id": "c1", "name": "calculate", "args": {"expression": "6 * 7"}}
    ]
    assert (convo[2]["content"], convo[2]["name"], convo[3]["content"]) == (
        "42",
        "calculate",
        "It is 42.",
    )
    assert len({m["id"] for m in convo}) == 4
    # the system prompt, the conversation, the node's prompt last; then the tool round
    assert sent(bodies[0]) == [
        ("system", "Be brief about math."),
        ("user", "What is 6 times 7?"),
        ("user", "Answer in one line."),
    ]
    assert sent(bodies[1])[3:] == [("assistant", "calculate"), ("tool", "42")]
    # the next turn: the whole conversation, the new message, the prompt
    assert sent(bodies[2]) == [
        ("system", "Be brief about math."),
        ("user", "What is 6 times 7?"),
        ("assistant", "calculate"),
        ("tool", "42"),
        ("assistant", "It is 42."),
        ("user", "Sure?"),
        ("user", "Answer in one line."),
    ]
    assert second.status == RunStatus.SUCCEEDED, second.error
    assert second.output is not None
    after = second.output["messages"]
    assert after[:4] == convo  # the same messages, the same ids
    assert [(m["role"], m["content"]) for m in after[4:]] == [
        ("user", "Sure?"),
        ("assistant", "Yes: 42."),
    ]


ECHO = """
state: {messages: {type: messages}}
input: [messages]
output: [messages]
models: {default: {provider: scripted}}
nodes:
  - {name: chat, type: llm, capability: chat, system: Echo., messages: messages, output: messages}
edges:
  - {from: START, to: chat}
  - {from: chat, to: END}
"""


async def test_the_conversation_travels_to_an_agent_over_http(tmp_path: Path) -> None:
    """The scripted model with no responses answers the last user message: the conversation's."""
    history = [
        {"role": "user", "content": "Hi", "id": "m1"},
        {"role": "assistant", "content": "Hello! How can I help?", "id": "m2"},
        {"role": "user", "content": "Say this back.", "id": "m3"},
    ]
    with agents(tmp_path, 1, capabilities=["chat"]) as (agent,):
        dispatcher = HttpDispatcher(StaticEndpoints({"chat": [agent.url]}))
        try:
            async with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
                engine = Engine(store, dispatcher)
                record = await engine.create_run(workflow(ECHO), {"messages": history})
                done = await engine.execute(record.id)
        finally:
            await dispatcher.aclose()
        assert agent.tasks_done() == 1
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output is not None
    *before, answer = done.output["messages"]
    assert before == history
    assert (answer["role"], answer["content"]) == ("assistant", "Say this back.")


GATED = """
state: {messages: {type: messages}}
input: [messages]
output: [messages]
models:
  default:
    provider: scripted
    responses: [{toolCalls: [{name: calculate, args: {expression: "6 * 7"}}], then: "It is 42."}]
tools:
  - {name: calculate, function: "agent_runtime.tools.library:calculate", requireApproval: true}
nodes:
  - {name: chat, type: llm, messages: messages, tools: [calculate], output: messages}
edges:
  - {from: START, to: chat}
  - {from: chat, to: END}
"""


def test_a_reply_after_an_approval_holds_the_tool_round_once(tmp_path: Path) -> None:
    """The task paused at the gated call goes on from its continuation: what it added is
    counted from the same opening, so the conversation is not appended twice."""
    with WorkflowRunner(workflow(GATED), store=f"sqlite:///{tmp_path / 'runs.db'}") as runner:
        waiting = runner.run(messages=[{"role": "user", "content": "6 times 7?", "id": "u1"}])
        assert waiting.status == RunStatus.INTERRUPTED, waiting.error
        done = runner.approve(waiting, reason="fine")
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output is not None
    assert [(m["role"], m["content"]) for m in done.output["messages"]] == [
        ("user", "6 times 7?"),
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "It is 42."),
    ]
