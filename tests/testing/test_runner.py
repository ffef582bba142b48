"""The testing kit users run their Workflows with: scripted answers per node, a throwaway or given
store, runs answered and approved, and bad arguments named by field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_runtime.spec import LlmNode, SpecError, Workflow, parse_workflow
from agent_runtime.spec.run_input import InputError
from agent_runtime.stores import RunStatus, StepStatus, open_store
from agent_runtime.testing.runner import AsyncWorkflowRunner, WorkflowRunner
from tests.conftest import EXAMPLES

LINEAR = EXAMPLES / "01-linear-chain" / "workflow.yaml"
HUMAN = EXAMPLES / "04-human-approval" / "workflow.yaml"


def workflow(spec: str) -> Workflow:
    return parse_workflow(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": "t"},
            "spec": yaml.safe_load(spec),
        }
    )


#: Two nodes sharing one model, and a gated calculator.
SHARED = workflow("""
state: {q: {type: string}, a: {type: string}, b: {type: string}}
input: [q]
output: [a, b]
models: {default: {provider: scripted, responses: ["from the model"]}}
nodes:
  - {name: first, type: llm, prompt: "{{ q }}", output: a}
  - {name: second, type: llm, prompt: "{{ a }}", output: b}
edges: [{from: START, to: first}, {from: first, to: second}, {from: second, to: END}]
""")

GATED = workflow("""
state: {q: {type: string}, answer: {type: string}}
input: [q]
output: [answer]
models: {default: {provider: scripted}}
tools:
  - {name: calculate, function: "agent_runtime.tools.library:calculate", requireApproval: true}
nodes:
  - {name: solve, type: llm, prompt: "{{ q }}", tools: [calculate], output: answer}
edges: [{from: START, to: solve}, {from: solve, to: END}]
""")

ASK_CALCULATOR = [{"toolCalls": [{"name": "calculate", "args": {"expression": "6 * 7"}}]}]


def test_a_run_reports_its_output_steps_and_events() -> None:
    with WorkflowRunner(LINEAR, answers={"write": ["Brief: leases."]}) as runner:
        result = runner.run(topic="leases")
    assert result.status == RunStatus.SUCCEEDED and result.error is None
    assert result.output == {
        "draft": "Brief: leases.",
        "sources": ["https://example.org/durable-execution"],  # research kept its own model
    }
    assert result.nodes == ["research", "write"]
    assert [(s.node, s.visit, s.attempt, s.status) for s in result.steps] == [
        ("research", 0, 1, StepStatus.SUCCEEDED),
        ("write", 0, 1, StepStatus.SUCCEEDED),
    ]
    assert result.event_types[0] == "run.started" and result.event_types[-1] == "run.finished"
    assert result.event_types.count("node.finished") == 2


def test_answers_script_a_node_not_the_model_it_shares() -> None:
    with WorkflowRunner(SHARED, answers={"second": ["scripted for the test"]}) as runner:
        result = runner.run({"q": "why"})
    assert result.output == {"a": "from the model", "b": "scripted for the test"}
    second = SHARED.spec.node("second")
    assert isinstance(second, LlmNode) and second.model == "default"  # the one given is kept


def test_each_visit_takes_the_next_answer_and_the_last_repeats() -> None:
    loop = EXAMPLES / "02-router-loop" / "workflow.yaml"
    with WorkflowRunner(loop, answers={"grade": [{"score": 1}, {"score": 2}]}) as runner:
        result = runner.run(topic="leases")
    assert result.output == {"draft": "A third draft.", "score": 2, "revisions": 3}
    assert result.nodes == ["write", "grade", "check"] * 3
    assert [s.visit for s in result.steps if s.node == "grade"] == [0, 1, 2]


def test_a_failed_run_is_a_result_with_its_error() -> None:
    # structured output declared, plain text scripted: the provider refuses it
    with WorkflowRunner(LINEAR, answers={"research": ["not an object"]}) as runner:
        result = runner.run(topic="leases")
    assert result.status == RunStatus.FAILED and result.output is None
    assert result.error is not None and "structured output" in result.error["message"]
    assert [(s.node, s.status) for s in result.steps] == [("research", StepStatus.FAILED)]


def test_a_human_node_is_answered_with_resume() -> None:
    with WorkflowRunner(HUMAN) as runner:
        waiting = runner.run(topic="leases")
        assert waiting.status == RunStatus.INTERRUPTED and waiting.output is None
        assert waiting.interrupt is not None and waiting.interrupt["node"] == "review"
        assert set(waiting.interrupt["fields"]) == {"approved", "feedback"}
        again = runner.resume(waiting, approved=False, feedback="shorter")
        assert again.status == RunStatus.INTERRUPTED
        done = runner.resume(again.id, approved=True, feedback="ok")
    assert done.status == RunStatus.SUCCEEDED
    assert done.nodes == ["draft", "review", "draft", "review", "publish"]
    assert done.output is not None and done.output["approved"] is True
    assert done.output["draft"] == "Leases: a dead owner's runs pass to a live gateway."


def test_a_resume_answer_that_does_not_fit_names_the_field() -> None:
    with WorkflowRunner(HUMAN) as runner:
        waiting = runner.run(topic="leases")
        with pytest.raises(InputError) as caught:
            runner.resume(waiting, approved="yes", feedback="ok", extra=1)
        assert runner.run(topic="again").status == RunStatus.INTERRUPTED  # still usable
    assert any(line.startswith("input.approved: ") for line in caught.value.lines())
    assert any(line.startswith("input.extra: not asked for") for line in caught.value.lines())


def test_gated_calls_are_approved_or_denied() -> None:
    with WorkflowRunner(GATED, answers={"solve": ASK_CALCULATOR}) as runner:
        waiting = runner.run(q="six times seven")
        assert waiting.status == RunStatus.INTERRUPTED
        assert waiting.interrupt is not None and waiting.interrupt["kind"] == "approval"
        assert [c["name"] for c in waiting.interrupt["calls"]] == ["calculate"]
        approved = runner.approve(waiting, reason="fine")
        denied = runner.deny(runner.run(q="again"), reason="not today")
    assert approved.status == RunStatus.SUCCEEDED and approved.output == {"answer": "42"}
    assert [a.approved for a in approved.run.approvals] == [True]
    assert denied.status == RunStatus.SUCCEEDED and denied.output is not None
    assert "denied" in denied.output["answer"] and "not today" in denied.output["answer"]


def test_an_approval_may_deny_some_calls() -> None:
    two = [
        {
            "toolCalls": [
                ASK_CALCULATOR[0]["toolCalls"][0],
                {"name": "calculate", "args": {"expression": "1 + 1"}},
            ],
            "then": "done",
        }
    ]
    with WorkflowRunner(GATED, answers={"solve": two}) as runner:
        waiting = runner.run(q="two sums")
        assert waiting.interrupt is not None
        first, second = (c["id"] for c in waiting.interrupt["calls"])
        result = runner.approve(waiting, calls={second: False}, reason="one is enough")
    assert result.status == RunStatus.SUCCEEDED and result.output == {"answer": "done"}
    decided = {a.call_id: a.approved for a in result.run.approvals}
    assert decided == {first: True, second: False}
    assert {a.comment for a in result.run.approvals} == {"one is enough"}


async def test_bad_input_names_each_field_and_stores_nothing() -> None:
    async with AsyncWorkflowRunner(LINEAR) as runner:
        with pytest.raises(InputError) as missing:
            await runner.run(subject="leases")
        with pytest.raises(InputError) as typed:
            await runner.run(topic=3)
        assert await runner.engine.store.count_runs(RunStatus.QUEUED) == 0
    assert missing.value.lines() == [
        "input.subject: not an input of this workflow (inputs: topic)",
        "input.topic: required",
    ]
    assert typed.value.lines()[0].startswith("input.topic: ")
    assert missing.value.code == "invalid_input"


#: An llm node calling a vendor, and a tool node.
NETWORK = workflow("""
state: {q: {type: string}, n: {type: integer}}
input: [q]
models: {default: {provider: openai, model: gpt-4o-mini}}
tools: [{name: word_count, function: "agent_runtime.tools.library:word_count"}]
nodes:
  - {name: solve, type: llm, prompt: "{{ q }}"}
  - {name: count, type: tool, tool: word_count, args: {text: "{{ q }}"}, output: n}
edges: [{from: START, to: solve}, {from: solve, to: count}, {from: count, to: END}]
""")


@pytest.mark.parametrize(
    ("source", "answers", "allow_network", "line"),
    [
        (
            LINEAR,
            {"nope": ["x"]},
            False,
            "answers.nope: not an llm node (llm nodes: research, write)",
        ),
        (LINEAR, {"write": "one answer"}, False, "answers.write: expected a list of answers"),
        (NETWORK, {}, False, "answers.solve: required: the node calls model 'default' (openai)"),
        (NETWORK, {"count": ["y"]}, True, "answers.count: not an llm node (llm nodes: solve)"),
    ],
)
def test_bad_answers_name_the_node(
    source: Workflow | Path, answers: Any, allow_network: bool, line: str
) -> None:
    with pytest.raises(SpecError) as caught:
        WorkflowRunner(source, answers=answers, allow_network=allow_network)
    assert any(problem.startswith(f"WorkflowRunner: {line}") for problem in caught.value.lines())


def test_a_vendor_model_is_kept_when_the_network_is_allowed() -> None:
    runner = WorkflowRunner(NETWORK, allow_network=True)
    assert runner.workflow.spec.models["default"].provider == "openai"
    scripted = WorkflowRunner(NETWORK, answers={"solve": ["offline"]}).workflow.spec
    solve = scripted.node("solve")
    assert isinstance(solve, LlmNode)
    assert scripted.models[solve.model].provider == "scripted"
    assert scripted.models[solve.model].responses == ["offline"]


def test_a_file_of_several_workflows_needs_a_name(tmp_path: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(LINEAR.read_text() + "---\n" + HUMAN.read_text())
    with pytest.raises(SpecError, match="2 Workflows \\(linear-chain, human-approval\\)"):
        WorkflowRunner(both)
    with pytest.raises(SpecError, match="no Workflow named 'other'"):
        WorkflowRunner(both, name="other")
    assert WorkflowRunner(both, name="human-approval").workflow.name == "human-approval"


def test_runs_go_to_the_store_given(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    with WorkflowRunner(LINEAR, store=url) as runner:
        run_id = runner.run(topic="kept").id

    async def read() -> tuple[RunStatus, list[str]]:
        async with open_store(url) as store:
            run = await store.get_run(run_id)
            return run.status, [s.node for s in await store.list_steps(run_id)]

    assert asyncio.run(read()) == (RunStatus.SUCCEEDED, ["research", "write"])


def test_the_runner_runs_only_inside_its_block() -> None:
    runner = WorkflowRunner(LINEAR)
    with pytest.raises(RuntimeError, match="inside its `with` block"):
        runner.run(topic="x")
    with runner:
        assert runner.run(topic="x").status == RunStatus.SUCCEEDED
    with pytest.raises(RuntimeError, match="inside its `with` block"):
        runner.run(topic="x")


async def test_the_async_runner_over_an_in_memory_store() -> None:
    async with AsyncWorkflowRunner(HUMAN, store="sqlite:///:memory:") as runner:
        waiting = await runner.run(topic="leases")
        done = await runner.resume(waiting, approved=True, feedback="ok")
    assert done.status == RunStatus.SUCCEEDED
    assert done.nodes == ["draft", "review", "publish"]


async def test_async_code_is_pointed_to_the_async_runner() -> None:
    with pytest.raises(RuntimeError, match="in async code use AsyncWorkflowRunner"):
        with WorkflowRunner(LINEAR):
            pass  # pragma: no cover
