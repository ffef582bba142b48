"""The messages state type: accepted input forms, LangGraph's add_messages semantics over JSON,
and input checks that name the message and field at fault."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_runtime.spec import parse_workflow
from agent_runtime.spec.messages import (
    REMOVE_ALL,
    add_messages,
    coerce_messages,
    is_message_schema,
    replace_messages,
)
from agent_runtime.spec.run_input import InputError, check_fields, check_input
from agent_runtime.spec.state import StateField


def chat_spec(**field: Any) -> Any:
    return parse_workflow(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "chat"},
            "spec": {
                "state": {"messages": {"type": "messages", **field}},
                "input": ["messages"],
                "output": ["messages"],
                "models": {"default": {"provider": "scripted"}},
                "nodes": [{"name": "chat", "type": "llm", "messages": "messages"}],
                "edges": [{"from": "START", "to": "chat"}, {"from": "chat", "to": "END"}],
            },
        }
    ).spec


def test_append_keeps_order_and_gives_every_message_an_id() -> None:
    first = add_messages([], ["hi", {"role": "assistant", "content": "hello"}])
    assert [(m["role"], m["content"]) for m in first] == [("user", "hi"), ("assistant", "hello")]
    ids = [m["id"] for m in first]
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)  # uuids
    second = add_messages(first, {"role": "user", "content": "again"})
    assert second[:2] == first and second[2]["content"] == "again"
    assert first == add_messages([], first)  # ids given are kept
    json.dumps(second)  # plain JSON, as the stores checkpoint it


def test_a_known_id_replaces_in_place_and_removals_remove() -> None:
    convo = add_messages(
        [],
        [{"role": "user", "content": "a", "id": "1"}, {"role": "user", "content": "b", "id": "2"}],
    )
    edited = add_messages(convo, {"role": "user", "content": "A", "id": "1"})
    assert [(m["id"], m["content"]) for m in edited] == [("1", "A"), ("2", "b")]
    assert [m["id"] for m in add_messages(edited, {"type": "remove", "id": "1"})] == ["2"]
    assert add_messages(edited, [{"type": "remove", "id": REMOVE_ALL}, "new"])[0]["content"] == (
        "new"
    )
    # the same id twice in one write: the later wins, once
    twice = add_messages(
        [], [{"content": "x", "role": "user", "id": "7"}, {"type": "ai", "id": "7"}]
    )
    assert [(m["id"], m["role"]) for m in twice] == [("7", "assistant")]


def test_replace_reducer_puts_the_new_list_in_our_form() -> None:
    assert [m["content"] for m in replace_messages([{"role": "user", "id": "0"}], ["a", "b"])] == [
        "a",
        "b",
    ]


def test_langgraph_and_openai_forms_become_ours() -> None:
    given = [
        {"type": "system", "content": "Be brief."},
        {"type": "human", "content": [{"type": "text", "text": "Weather "}, "in Oslo?"]},
        {
            "type": "ai",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "get_weather", "args": {"city": "Oslo"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "4 degrees", "name": "get_weather"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
            ],
        },
    ]
    assert coerce_messages(given) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "toolCalls": [{"id": "c1", "name": "get_weather", "args": {"city": "Oslo"}}],
        },
        {"role": "tool", "content": "4 degrees", "name": "get_weather", "toolCallId": "c1"},
        {
            "role": "assistant",
            "content": "",
            "toolCalls": [{"id": "c2", "name": "f", "args": {"a": 1}}],
        },
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            [{"role": "robot"}],
            "input.messages[0].role: must be one of system, user, assistant, tool",
        ),
        (["ok", {"type": "bot"}], "input.messages[1].type: must be one of"),
        ([{"role": "tool", "content": "x"}], "input.messages[0].toolCallId: a tool message names"),
        ([{"role": "user", "content": 5}], "input.messages[0].content: expected a string"),
        ([{"role": "user", "text": "hi"}], "input.messages[0].text: not a field of a message"),
        ([{"role": "user", "toolCalls": [{"name": "f"}]}], "input.messages[0].toolCalls: only an"),
        (
            [{"role": "assistant", "toolCalls": [{"name": "f", "args": {}}]}],
            "input.messages[0].toolCalls[0].id: required",
        ),
        ([3], "input.messages[0]: expected a message object or a string"),
    ],
)
def test_bad_input_names_the_message_and_field(value: Any, problem: str) -> None:
    with pytest.raises(InputError) as caught:
        check_input(chat_spec(), {"messages": value})
    [line] = caught.value.lines()
    assert line.startswith(problem), line


def test_checked_input_is_recorded_in_our_form_with_ids() -> None:
    checked = check_input(chat_spec(), {"messages": "hello"})
    [message] = checked["messages"]
    assert message["role"] == "user" and message["content"] == "hello" and message["id"]
    answer = check_fields({"reply": StateField(type="messages")}, {"reply": [{"type": "human"}]})
    assert answer["reply"][0]["role"] == "user" and answer["reply"][0]["id"]


def test_a_messages_field_appends_unless_told_to_replace() -> None:
    assert chat_spec().state["messages"].reducer == "append"
    assert chat_spec(reducer="replace").state["messages"].reducer == "replace"
    field = chat_spec().state["messages"]
    assert field.zero() == [] and is_message_schema(field.json_schema())
    assert not is_message_schema(StateField(type="array").json_schema())
