"""The run page shows a messages field as a conversation: the dashboard folds each step's
messages with add_messages (append, replace by id) and draws one bubble per message, escaped."""

from __future__ import annotations

import re
from typing import Any

from agent_runtime.spec.state import StateField
from agent_runtime.ui.forms import form_fields, parse_form
from agent_runtime.ui.state_tracker import StateTracker
from agent_runtime.ui.views import run_view, templates


def gateway_fields(**fields: StateField) -> dict[str, Any]:
    """The state fields as the gateway describes them (``GET /v1/workflows/{ns}/{name}``)."""
    return {
        k: {**f.json_schema(), "reducer": f.reducer, "zero": f.zero()} for k, f in fields.items()
    }


def finished(tracker: StateTracker, node: str, visit: int, update: dict[str, Any]) -> None:
    tracker.feed("node.finished", {"node": node, "visit": visit, "attempt": 1, "update": update})


def render(run: dict[str, Any], tracker: StateTracker) -> str:
    template = templates().get_template("_run_body.html")
    return str(template.render(view=run_view(run, tracker), root="/ui", error=None))


def bubbles(html: str) -> list[tuple[str, str]]:
    found = re.findall(
        r'<div class="bubble role-(\w+)"[^>]*>.*?</span>\s*(?:<p>(.*?)</p>)?', html, re.S
    )
    return [(role, text) for role, text in found]


def test_messages_fold_by_id_and_show_as_bubbles_escaped() -> None:
    fields = gateway_fields(messages=StateField(type="messages"), topic=StateField(type="string"))
    given = {"messages": [{"role": "user", "content": "Hi <script>alert(1)</script>", "id": "u1"}]}
    tracker = StateTracker(fields, given)
    call = {"id": "c1", "name": "calculate", "args": {"expression": "6 * 7"}}
    finished(
        tracker,
        "chat",
        0,
        {
            "messages": [
                {"role": "assistant", "content": "", "id": "a1", "toolCalls": [call]},
                {"role": "tool", "content": "42", "id": "t1", "toolCallId": "c1"},
                {"role": "assistant", "content": "draft", "id": "a2"},
            ]
        },
    )
    finished(tracker, "fix", 0, {"messages": [{"role": "assistant", "content": "42.", "id": "a2"}]})
    assert [m["id"] for m in tracker.state["messages"]] == ["u1", "a1", "t1", "a2"]
    assert list(tracker.conversations) == ["messages"]

    html = render({"id": "run-1", "status": "succeeded", "input": given, "steps": []}, tracker)
    assert bubbles(html) == [
        ("user", "Hi &lt;script&gt;alert(1)&lt;/script&gt;"),
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "42."),
    ]
    assert "<script>alert" not in html
    assert "calls <code>calculate</code>" in html and "6 * 7" in html
    assert 'data-field="messages"' in html and 'data-field="topic"' not in html


def test_a_replaced_conversation_and_an_empty_one() -> None:
    fields = gateway_fields(chat=StateField(type="messages", reducer="replace"))
    tracker = StateTracker(fields, {})
    assert tracker.conversations == {"chat": []}
    html = render({"id": "run-2", "status": "running", "input": {}, "steps": []}, tracker)
    assert "No messages yet." in html
    finished(tracker, "a", 0, {"chat": ["one"]})
    finished(tracker, "b", 0, {"chat": ["two"]})
    assert [m["content"] for m in tracker.state["chat"]] == ["two"]


def test_a_messages_input_takes_the_text_as_one_user_message_or_json() -> None:
    fields = form_fields(gateway_fields(messages=StateField(type="messages")))
    assert fields[0].placeholder.startswith("Your message")
    given, problems = parse_form(fields, {"messages": "  Hello,\nhow are you?  "})
    assert problems == {} and given == {"messages": ["Hello,\nhow are you?"]}
    listed, _ = parse_form(fields, {"messages": '[{"role": "user", "content": "Hi"}]'})
    assert listed == {"messages": [{"role": "user", "content": "Hi"}]}
