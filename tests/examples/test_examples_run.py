"""Every example, run through the testing kit as a user's own tests would: the nodes it visits,
its steps and its output, with the example's scripted models and with answers of the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime.stores import RunStatus, StepStatus
from agent_runtime.testing import RunResult
from agent_runtime.testing.runner import WorkflowRunner
from tests.conftest import EXAMPLES


def example(name: str) -> Path:
    return EXAMPLES / name / "workflow.yaml"


def succeeded(result: RunResult) -> None:
    assert result.status == RunStatus.SUCCEEDED, result.error
    assert all(step.status == StepStatus.SUCCEEDED for step in result.steps)
    assert result.event_types[0] == "run.started" and result.event_types[-1] == "run.finished"


def test_every_example_is_run_here() -> None:
    folders = {p.parent.name for p in EXAMPLES.glob("*/workflow.yaml")}
    tested = {name.removeprefix("test_").replace("_", "-") for name in globals()}
    assert {f[3:] for f in folders} <= tested, "a test named test_<example without number>"


def test_linear_chain() -> None:
    with WorkflowRunner(example("01-linear-chain")) as runner:
        result = runner.run(topic="durable agents")
    succeeded(result)
    assert [(s.node, s.visit, s.attempt) for s in result.steps] == [
        ("research", 0, 1),
        ("write", 0, 1),
    ]
    assert all(s.input_tokens > 0 and s.output_tokens > 0 for s in result.steps)
    assert result.output == {
        "draft": "Brief: durable agents checkpoint every step, so a run survives any crash.",
        "sources": ["https://example.org/durable-execution"],
    }


@pytest.mark.parametrize(
    ("grades", "nodes", "output"),
    [
        ([{"score": 9}], ["write", "grade", "check"], {"score": 9, "revisions": 1}),
        ([{"score": 3}, {"score": 8}], ["write", "grade", "check"] * 2, {"revisions": 2}),
        ([{"score": 1}], ["write", "grade", "check"] * 3, {"score": 1, "revisions": 3}),
    ],
    ids=["good-at-once", "good-on-the-second", "three-drafts-at-most"],
)
def test_router_loop(grades: list[Any], nodes: list[str], output: dict[str, Any]) -> None:
    with WorkflowRunner(example("02-router-loop"), answers={"grade": grades}) as runner:
        result = runner.run(topic="leases")
    succeeded(result)
    assert result.nodes == nodes
    assert result.output is not None and output.items() <= result.output.items()


def test_parallel_fan_out() -> None:
    answers = {"search_news": [{"findings": ["news: quiet"], "coverage": {"news": 0}}]}
    with WorkflowRunner(example("03-parallel-fan-out"), answers=answers) as runner:
        result = runner.run(topic="leases")
    succeeded(result)
    assert result.nodes[0] == "plan" and result.nodes[-1] == "summarise"
    assert sorted(result.nodes[1:-1]) == ["search_news", "search_papers", "search_web"]
    assert result.output is not None
    assert sorted(result.output["findings"]) == [
        "news: quiet",
        "papers: checkpointing cuts recovery time",
        "web: durable execution is mainstream",
    ]
    assert result.output["coverage"] == {"news": 0, "papers": 1, "web": 1}


def test_human_approval() -> None:
    with WorkflowRunner(example("04-human-approval")) as runner:
        waiting = runner.run(topic="leases")
        assert waiting.status == RunStatus.INTERRUPTED
        assert waiting.interrupt is not None and waiting.interrupt["node"] == "review"
        assert waiting.interrupt["prompt"] == (
            "Approve this brief? Leases let another gateway take over a run whose owner died."
        )
        revised = runner.resume(waiting, approved=False, feedback="shorter")
        assert revised.status == RunStatus.INTERRUPTED
        result = runner.resume(revised, approved=True, feedback="ok")
    succeeded(result)
    assert result.nodes == ["draft", "review", "draft", "review", "publish"]
    draft = "Leases: a dead owner's runs pass to a live gateway."
    assert result.output == {"draft": draft, "approved": True, "published": f"PUBLISHED: {draft}"}


@pytest.mark.parametrize(
    ("expression", "answer"), [("6 * 7", "42"), ("2 ** 10", "1024"), ("7 / 2", "3.5")]
)
def test_tool_agent(expression: str, answer: str) -> None:
    calls = [{"toolCalls": [{"name": "calculate", "args": {"expression": expression}}]}]
    with WorkflowRunner(example("05-tool-agent"), answers={"solve": calls}) as runner:
        result = runner.run(question="what is it, exactly")
    succeeded(result)
    assert result.nodes == ["solve", "count"]
    assert result.output == {"answer": answer, "words": 4}


def test_chat() -> None:
    history = [
        {"role": "user", "content": "Hi", "id": "m1"},
        {"role": "assistant", "content": "Hello! How can I help?", "id": "m2"},
        {"role": "user", "content": "What is 6 times 7?", "id": "m3"},
    ]
    with WorkflowRunner(example("06-chat")) as runner:
        result = runner.run(messages=history)
    succeeded(result)
    assert result.nodes == ["chat"]
    assert result.output is not None
    messages = result.output["messages"]
    assert messages[:3] == history
    assert [(m["role"], m["content"]) for m in messages[3:]] == [
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "6 times 7 is 42."),
    ]
    # a test's own answer replaces the example's model: the reply is appended all the same
    with WorkflowRunner(example("06-chat"), answers={"chat": ["Hello again."]}) as runner:
        again = runner.run(messages=[*messages, "Thanks!"])
    succeeded(again)
    assert again.output is not None
    assert [m["content"] for m in again.output["messages"][6:]] == ["Thanks!", "Hello again."]
