"""Gated tool calls and limits that pause: the run waits for a person, on every store."""

from __future__ import annotations

import pytest

from agent_runtime.engine import Engine, InputError, LocalDispatcher, RunError
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.budgets import NamespaceBudgets
from agent_runtime.policy.budgets import BudgetPolicy
from agent_runtime.spec.common import ObjectMeta
from agent_runtime.spec.workflow import Workflow
from agent_runtime.stores import Actor, RunRecord, RunStatus, RunStore
from agent_runtime.stores.counters import spend_day
from agent_runtime.stores.records import utcnow
from tests.counting_tools import counts
from tests.engine.conftest import workflow as shared_workflow

ALICE = Actor(username="alice", groups=["reviewers"])


def workflow(spec: str) -> Workflow:
    return shared_workflow(spec, name="gated", namespace="team-a")


#: A model that asks for a gated and an ungated tool in one round, then answers with the
#: last tool result.
AGENT = """
state: {out: {type: string}}
output: [out]
models:
  m:
    provider: scripted
    responses:
      - toolCalls:
          - {name: charge, args: {label: charged}}
          - {name: look, args: {label: looked}}
tools:
  - {name: charge, function: "tests.counting_tools:record", requireApproval: %s}
  - {name: look, function: "tests.counting_tools:record"}
nodes:
  - {name: pay, type: llm, model: m, prompt: go, tools: [charge, look], output: out%s}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


async def start(engine: Engine, wf: Workflow) -> RunRecord:
    record = await engine.create_run(wf, {})
    return await engine.execute(record.id)


async def decide(engine: Engine, run: RunRecord, given: ApprovalInput) -> RunRecord:
    await engine.queue_approval(run.id, given, by=ALICE)
    return await engine.execute(run.id)


@pytest.mark.parametrize(
    ("on_tool", "on_node"), [("true", ""), ("false", ", requireApproval: [charge]")]
)
async def test_gated_call_waits_then_runs_once_when_approved(
    engine: Engine, on_tool: str, on_node: str
) -> None:
    run = await start(engine, workflow(AGENT % (on_tool, on_node)))
    assert run.status == RunStatus.INTERRUPTED, run.error
    request = run.interrupt or {}
    assert request["kind"] == "approval" and request["reason"] == "approval"
    assert [(c["name"], c["args"]) for c in request["calls"]] == [("charge", {"label": "charged"})]
    assert counts() == {}, "nothing of the round runs before the person answers"

    done = await decide(engine, run, ApprovalInput(approved=True, reason="ok"))
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert counts() == {"charged": 1, "looked": 1}
    [approval] = done.approvals
    assert (approval.tool, approval.approved, approval.comment) == ("charge", True, "ok")
    assert approval.by == ALICE and approval.call_id == request["calls"][0]["id"]
    assert done.resumed_by == ALICE
    steps = await engine.store.list_steps(done.id)
    assert [(s.attempt, s.status.value) for s in steps] == [(1, "paused"), (2, "succeeded")]
    assert all(s.input_tokens > 0 for s in steps), "the paused attempt's tokens count too"


async def test_denied_call_is_refused_to_the_model_and_never_runs(engine: Engine) -> None:
    run = await start(engine, workflow(AGENT % ("true", "")))
    done = await decide(engine, run, ApprovalInput(approved=False, reason="not today"))
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert counts() == {"looked": 1}
    assert done.approvals[0].approved is False


async def test_a_denial_reaches_the_model_as_the_tools_answer(engine: Engine) -> None:
    one_call = (AGENT % ("true", "")).replace(
        "          - {name: look, args: {label: looked}}\n", ""
    )
    run = await start(engine, workflow(one_call))
    done = await decide(engine, run, ApprovalInput(approved=False, reason="too much"))
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert "a person denied this call of 'charge': too much" in (done.output or {})["out"]
    assert counts() == {}


async def test_answers_are_checked_before_anything_changes(engine: Engine) -> None:
    run = await start(engine, workflow(AGENT % ("true", "")))
    with pytest.raises(InputError, match=r"calls\.nope: not a call this run waits for"):
        await engine.queue_approval(run.id, ApprovalInput(approved=True, calls={"nope": True}))
    with pytest.raises(RunError, match="waits for an approval at node 'pay': approve or deny"):
        await engine.resume(run.id, {"x": 1})
    unchanged = await engine.store.get_run(run.id)
    assert unchanged.status == RunStatus.INTERRUPTED and unchanged.approvals == []


async def test_a_new_engine_goes_on_from_the_recorded_approval(
    store: RunStore, engine: Engine
) -> None:
    """The gateway that took the approval dies before running the call: another runs it, once."""
    run = await start(engine, workflow(AGENT % ("true", "")))
    await engine.queue_approval(run.id, ApprovalInput(approved=True), by=ALICE)
    other = Engine(store, LocalDispatcher(), owner="another-gateway/1")
    try:
        done = await other.execute(run.id)
    finally:
        await other.dispatcher.aclose()
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert counts() == {"charged": 1, "looked": 1}
    assert [a.by for a in done.approvals] == [ALICE]


TOOL_NODE = """
state: {out: {type: string}}
output: [out]
tools: [{name: charge, function: "tests.counting_tools:record", requireApproval: true}]
nodes:
  - {name: pay, type: tool, tool: charge, args: {label: paid}, output: out}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


@pytest.mark.parametrize("approved", [True, False])
async def test_a_gated_tool_node_runs_only_when_approved(engine: Engine, approved: bool) -> None:
    run = await start(engine, workflow(TOOL_NODE))
    assert run.status == RunStatus.INTERRUPTED
    assert [c["name"] for c in (run.interrupt or {})["calls"]] == ["charge"]
    done = await decide(engine, run, ApprovalInput(approved=approved))
    if approved:
        assert done.status == RunStatus.SUCCEEDED and done.output == {"out": "paid"}
        assert counts() == {"paid": 1}
    else:
        assert done.status == RunStatus.FAILED
        assert (done.error or {})["code"] == "denied"
        assert counts() == {}


#: A model that asks for a tool in every round, forever (bounded by maxToolRounds).
LOOP = """
state: {out: {type: string}}
output: [out]
models:
  m:
    provider: scripted
    responses:
      - toolCalls: [{name: tick, args: {label: tick}}]
        then: {toolCalls: [{name: tick, args: {label: tick}}]}
tools: [{name: tick, function: "tests.counting_tools:record"}]
nodes:
  - {name: spin, type: llm, model: m, prompt: go, tools: [tick], maxToolRounds: 100, output: out}
edges: [{from: START, to: spin}, {from: spin, to: END}]
limits: %s
"""


async def test_max_tool_calls_stops_a_model_that_loops_forever(engine: Engine) -> None:
    done = await start(engine, workflow(LOOP % "{maxToolCalls: 5}"))
    assert done.status == RunStatus.FAILED
    error = done.error or {}
    assert error["code"] == "max_tool_calls"
    assert error["message"] == (
        "limits.maxToolCalls: the run used 5 tool calls of the 5 it may use"
    )
    assert counts() == {"tick": 5}


async def test_max_tokens_stops_a_model_that_loops_forever(engine: Engine) -> None:
    done = await start(engine, workflow(LOOP % "{maxTokens: 40}"))
    assert done.status == RunStatus.FAILED
    assert (done.error or {})["code"] == "max_tokens"
    assert (done.error or {})["message"].startswith("limits.maxTokens: the run used ")
    steps = await engine.store.list_steps(done.id)
    used = sum(s.input_tokens + s.output_tokens for s in steps)
    assert 40 <= used < 40 + 30, "stops at the first round at or over the limit"


async def test_pause_at_a_limit_and_an_approval_grants_it_again(engine: Engine) -> None:
    wf = workflow(LOOP % "{maxToolCalls: 3, onExceeded: pause}")
    run = await start(engine, wf)
    assert run.status == RunStatus.INTERRUPTED, run.error
    request = run.interrupt or {}
    assert (request["reason"], request["limit"]) == ("maxToolCalls", "maxToolCalls")
    assert counts() == {"tick": 3}
    again = await decide(engine, run, ApprovalInput(approved=True))
    assert again.status == RunStatus.INTERRUPTED
    assert counts() == {"tick": 6}, "the grant is the limit once more, nothing already spent lost"
    done = await decide(engine, again, ApprovalInput(approved=False, reason="enough"))
    assert done.status == RunStatus.FAILED
    assert (done.error or {})["code"] == "max_tool_calls"
    assert "a person declined more" in (done.error or {})["message"]
    assert [(a.reason, a.limit, a.approved) for a in done.approvals] == [
        ("maxToolCalls", "maxToolCalls", True),
        ("maxToolCalls", "maxToolCalls", False),
    ]
    assert counts() == {"tick": 6}


async def test_limits_count_across_nodes_and_loops(engine: Engine) -> None:
    """A graph loop of tool nodes stops at maxToolCalls too, not only a model's loop."""
    spec = """
state: {out: {type: string}, n: {type: integer, reducer: sum}}
output: [out]
tools: [{name: tick, function: "tests.counting_tools:record"}]
nodes:
  - {name: step, type: tool, tool: tick, args: {label: step}, output: out}
  - {name: again, type: router}
edges:
  - {from: START, to: step}
  - {from: step, to: again}
  - from: again
    branches: [{when: "state.n > 1000", to: END}, {to: step}]
limits: {maxToolCalls: 4, maxSteps: 100}
"""
    done = await start(engine, workflow(spec))
    assert done.status == RunStatus.FAILED
    assert (done.error or {})["code"] == "max_tool_calls"
    assert counts() == {"step": 4}


ONE_ANSWER = """
state: {out: {type: string}}
output: [out]
models: {m: {provider: scripted, responses: ["an answer of five words"]}}
nodes: [{name: think, type: llm, model: m, prompt: go, output: out}]
edges: [{from: START, to: think}, {from: think, to: END}]
"""


def budgets_engine(store: RunStore, on_exceeded: str) -> Engine:
    policy = BudgetPolicy.model_validate(
        {"onExceeded": on_exceeded, "namespaces": {"team-a": {"tokensPerDay": 5}}}
    )
    return Engine(store, LocalDispatcher(), budgets=NamespaceBudgets(store, policy, refresh=0))


async def test_a_namespace_over_its_daily_budget_pauses_its_runs_until_approved(
    store: RunStore,
) -> None:
    engine = budgets_engine(store, "pause")
    try:
        first = await start(engine, workflow(ONE_ANSWER))
        assert first.status == RunStatus.SUCCEEDED, "under budget: runs as usual"
        spend = await store.get_spend("team-a", at=utcnow())
        assert spend.day.tokens >= 5, "the first run's tokens were charged"

        held = [await start(engine, workflow(ONE_ANSWER)) for _ in range(2)]
        for run in held:
            assert run.status == RunStatus.INTERRUPTED, run.error
            request = run.interrupt or {}
            assert (request["reason"], request["limit"]) == ("namespaceBudget", "tokensPerDay")
            assert request["period"] == spend_day(utcnow())
            assert "namespace team-a is over its budget: tokensPerDay" in request["message"]

        done = await decide(engine, held[0], ApprovalInput(approved=True, reason="release"))
        assert done.status == RunStatus.SUCCEEDED, done.error
        assert [(a.reason, a.limit, a.approved) for a in done.approvals] == [
            ("namespaceBudget", "tokensPerDay", True)
        ]
        still = await engine.store.get_run(held[1].id)
        assert still.status == RunStatus.INTERRUPTED, "an approval lets one run go on, not all"
        denied = await decide(engine, held[1], ApprovalInput(approved=False))
        assert denied.status == RunStatus.FAILED
        assert (denied.error or {})["code"] == "namespace_budget"
    finally:
        await engine.dispatcher.aclose()


async def test_a_namespace_over_its_budget_fails_runs_when_the_platform_says_so(
    store: RunStore,
) -> None:
    engine = budgets_engine(store, "fail")
    try:
        await store.add_spend("team-a", tokens=5, cost=0.0, at=utcnow())
        done = await start(engine, workflow(ONE_ANSWER))
        assert done.status == RunStatus.FAILED
        assert (done.error or {})["code"] == "namespace_budget"
        assert "tokensPerDay 5 of 5" in (done.error or {})["message"]
        other = await start(
            engine, workflow(ONE_ANSWER).model_copy(update={"metadata": _in("team-b")})
        )
        assert other.status == RunStatus.SUCCEEDED, "other namespaces are not held"
    finally:
        await engine.dispatcher.aclose()


def _in(namespace: str) -> ObjectMeta:
    return ObjectMeta(name="gated", namespace=namespace)


async def test_an_answer_for_one_request_never_lands_on_the_next(engine: Engine) -> None:
    """Two pauses in one node visit: an answer naming the first is refused at the second."""
    run = await start(engine, workflow(LOOP % "{maxToolCalls: 1, onExceeded: pause}"))
    first = (run.interrupt or {})["id"]
    assert first == "spin/0/1"
    again = await decide(engine, run, ApprovalInput(approved=True, request=first))
    assert (again.interrupt or {})["id"] == "spin/0/2"
    with pytest.raises(RunError, match="now waits for request 'spin/0/2', not 'spin/0/1'"):
        await engine.queue_approval(run.id, ApprovalInput(approved=True, request=first))
    unchanged = await engine.store.get_run(run.id)
    assert unchanged.status == RunStatus.INTERRUPTED and len(unchanged.approvals) == 1
