"""Form fields generated from JSON-Schema fields, and the state rebuilt from run events."""

from __future__ import annotations

import pytest

from agent_runtime.ui.chat import answer_of, message_value
from agent_runtime.ui.forms import form_fields, parse_form
from agent_runtime.ui.live import sse_message
from agent_runtime.ui.state_tracker import StateTracker

SCHEMAS = {
    "text": {"type": "string"},
    "count": {"type": "integer"},
    "ratio": {"type": "number"},
    "loud": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}},
    "sizes": {"type": "array", "items": {"type": "integer"}},
    "extra": {"type": "object"},
    "tone": {"type": "string", "enum": ["plain", "formal"]},
    "level": {"type": "integer", "enum": [1, 2]},
}


def test_each_type_gets_its_widget() -> None:
    widgets = {f.name: f.widget for f in form_fields(SCHEMAS)}
    assert widgets == {
        "text": "text",
        "count": "number",
        "ratio": "number",
        "loud": "checkbox",
        "tags": "json",
        "sizes": "json",
        "extra": "json",
        "tone": "select",
        "level": "select",
    }


def test_values_are_parsed_by_their_declared_type() -> None:
    given, problems = parse_form(
        form_fields(SCHEMAS),
        {
            "text": " keep spaces ",
            "count": " 7 ",
            "ratio": "0.5",
            "loud": "true",
            "tags": "a\n b \n\n",
            "sizes": "[1, 2]",
            "extra": '{"k": [1]}',
            "tone": "formal",
            "level": "2",
        },
    )
    assert problems == {}
    assert given == {
        "text": " keep spaces ",
        "count": 7,
        "ratio": 0.5,
        "loud": True,
        "tags": ["a", "b"],
        "sizes": [1, 2],
        "extra": {"k": [1]},
        "tone": "formal",
        "level": 2,
    }


def test_an_unchecked_box_is_false_and_empty_json_fields_are_empty() -> None:
    fields = form_fields({k: SCHEMAS[k] for k in ("loud", "tags", "extra")})
    assert parse_form(fields, {}) == ({"loud": False, "tags": [], "extra": {}}, {})


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("count", "2.5", "input.count: expected an integer, got '2.5'"),
        ("count", "", "input.count: required"),
        ("ratio", "nan", "input.ratio: expected a number, got 'nan'"),
        ("sizes", "1\nx", "input.sizes: expected an integer, got 'x'"),
        ("tags", "[1, ", "input.tags: expected a JSON array (Expecting value at column 4)"),
        ("extra", "[1]", "input.extra: expected a JSON object"),
        ("tone", "loud", "input.tone: must be one of plain, formal"),
    ],
)
def test_bad_values_are_named_by_field(field: str, text: str, message: str) -> None:
    _, problems = parse_form(form_fields({field: SCHEMAS[field]}), {field: text})
    assert problems == {field: message}


def test_resume_problems_use_the_given_prefix() -> None:
    _, problems = parse_form(form_fields({"n": {"type": "integer"}}), {"n": "x"}, prefix="resume")
    assert problems == {"n": "resume.n: expected an integer, got 'x'"}


def test_state_after_each_step_follows_the_reducers() -> None:
    fields = {
        "topic": {"type": "string", "reducer": "replace", "zero": ""},
        "notes": {"type": "array", "reducer": "append", "zero": []},
        "seen": {"type": "object", "reducer": "merge", "zero": {}},
        "total": {"type": "integer", "reducer": "sum", "zero": 0},
    }
    tracker = StateTracker(fields, {"topic": "tides"})
    tracker.feed("node.started", {"node": "a", "visit": 0, "attempt": 1}, 1)
    tracker.feed(
        "node.finished",
        {
            "node": "a",
            "visit": 0,
            "attempt": 1,
            "update": {"notes": "x", "seen": {"a": 1}, "total": 2},
        },
        2,
    )
    tracker.feed(
        "node.finished",
        {
            "node": "b",
            "visit": 0,
            "attempt": 2,
            "update": {"notes": ["y", "z"], "seen": {"b": 1}, "total": 3},
        },
        3,
    )
    assert tracker.snapshots[("a", 0, 1)] == {
        "topic": "tides",
        "notes": ["x"],
        "seen": {"a": 1},
        "total": 2,
    }
    assert tracker.state == {
        "topic": "tides",
        "notes": ["x", "y", "z"],
        "seen": {"a": 1, "b": 1},
        "total": 5,
    }
    assert tracker.updates[("b", 0, 2)] == {"notes": ["y", "z"], "seen": {"b": 1}, "total": 3}
    assert tracker.last_seq == 3


def test_html_goes_into_one_sse_message_line_by_line() -> None:
    assert (
        sse_message("update", "<p>\n  hi\n</p>")
        == "event: update\ndata: <p>\ndata:   hi\ndata: </p>\n\n"
    )


def test_chat_messages_take_the_fields_type() -> None:
    assert message_value({"type": "string"}, "42") == "42"
    assert message_value({"type": "integer"}, "42") == 42
    assert message_value({"type": "array"}, "[1, 2]") == [1, 2]
    assert answer_of({"reply": "hello"}) == "hello"
    assert answer_of({"n": 3}) == '```json\n{\n  "n": 3\n}\n```'
