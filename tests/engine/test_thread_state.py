"""A thread run's start state: the thread's values with the run's input folded in by each
field's reducer (append, merge, sum, add_messages), a plain field replaced; fields the spec no
longer declares and the engine's own channels left behind."""

from __future__ import annotations

from agent_runtime.engine.channels import USAGE, VISITS
from agent_runtime.engine.thread_state import kept, start_state
from tests.engine.conftest import workflow

SPEC = """
state:
  log: {type: array, items: {type: string}, reducer: append}
  seen: {type: object, reducer: merge}
  total: {type: integer, reducer: sum}
  last: {type: string, default: none}
  chat: {type: messages}
input: [log, seen, total, last, chat]
nodes:
  - {name: ask, type: human, prompt: "?", output: {last: {type: string}}}
edges:
  - {from: START, to: ask}
  - {from: ask, to: END}
"""


def test_the_input_folds_into_the_threads_values_by_reducer() -> None:
    spec = workflow(SPEC).spec
    base = {
        "log": ["a"],
        "seen": {"x": 1},
        "total": 5,
        "last": "before",
        "chat": [{"type": "human", "content": "hi", "id": "m1"}],
        "gone": "a field the spec dropped",
    }
    given = {
        "log": ["b"],
        "seen": {"y": 2},
        "total": 3,
        "last": "after",
        "chat": [
            {"type": "ai", "content": "hello", "id": "m2"},
            {"role": "user", "content": "again", "id": "m1"},
        ],
    }
    state = start_state(spec, given, base)
    assert state["log"] == ["a", "b"]
    assert state["seen"] == {"x": 1, "y": 2}
    assert state["total"] == 8
    assert state["last"] == "after"
    assert [(m["id"], m["content"]) for m in state["chat"]] == [("m1", "again"), ("m2", "hello")]
    assert "gone" not in state
    assert state[VISITS] == {} and state[USAGE] == {}  # limits count per run
    assert base["log"] == ["a"]  # the thread's values are not changed in place


def test_what_is_not_given_stays_and_without_a_thread_nothing_is_merged() -> None:
    spec = workflow(SPEC).spec
    state = start_state(spec, {"total": 1}, {"log": ["a"], "total": 2})
    assert (state["log"], state["total"], state["last"]) == (["a"], 3, "none")
    alone = start_state(spec, {"log": ["b"], "total": 1}, None)
    assert (alone["log"], alone["total"], alone["chat"]) == (["b"], 1, [])
    first = start_state(spec, {"log": ["b"]}, {})  # a new thread: as without one
    assert first["log"] == ["b"]


def test_a_thread_keeps_only_declared_fields() -> None:
    spec = workflow(SPEC).spec
    assert kept(spec, {"log": [1], VISITS: {"ask": 1}, "__interrupt__": [], "x": 1}) == {"log": [1]}
