"""A call the engine makes once carries a start deadline, and an agent that gets to it later
refuses it: otherwise an agent paused while holding the call makes it after a person (told its
outcome is unknown) chose to make it again, and the charge happens twice."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent_runtime.engine import Engine
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.remote import HttpDispatcher, StaticEndpoints
from agent_runtime.executors import NodeTask, TaskError, TaskExecutor
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.stores import RunStatus, open_store
from tests.agent.harness import AgentProcess, agents, counts
from tests.engine.conftest import workflow

CHARGE = ToolSpec(name="charge", function="tests.counting_tools:record", idempotent=False)


def charge_task(start_by: datetime | None) -> NodeTask:
    return NodeTask(
        run_id="run-deadline",
        workflow="default/pay",
        node="pay",
        type="tool",
        tool=CHARGE,
        args={"label": "charged"},
        recorded_tools=["charge"],
        start_by=start_by,
    )


async def test_an_agent_refuses_a_call_whose_start_deadline_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTER_DIR", str(tmp_path / "counts"))
    executor = TaskExecutor()
    try:
        passed = datetime.now(UTC) - timedelta(milliseconds=1)
        with pytest.raises(TaskError, match=r"start deadline \(.*\) passed"):
            await executor.execute(charge_task(passed))
        assert counts(tmp_path / "counts") == {}, "refused before the call, not after"
        ahead = datetime.now(UTC) + timedelta(seconds=30)
        assert (await executor.execute(charge_task(ahead))).output == "charged"
        assert counts(tmp_path / "counts") == {"charged": 1}
    finally:
        await executor.aclose()


PAY = """
state: {out: {type: string}}
output: [out]
tools: [{name: charge, function: "tests.counting_tools:record", idempotent: false}]
nodes:
  - {name: pay, type: tool, tool: charge, args: {label: charged}, output: out, timeout: 1s}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


async def test_a_paused_agent_does_not_make_a_call_a_person_made_again(
    sqlite_url: str, tmp_path: Path
) -> None:
    with agents(tmp_path, 2, capabilities=["llm"]) as (paused, other):
        assert paused.counter_dir == other.counter_dir
        async with open_store(sqlite_url) as store:
            # The first try goes to an agent that is stopped: the request waits in its socket,
            # the node's timeout passes, and the outcome is unknown.
            paused.signal(signal.SIGSTOP)
            try:
                first = Engine(store, only(paused))
                record = await first.create_run(workflow(PAY, name="pay"), {})
                run = await first.execute(record.id)
                assert run.status == RunStatus.INTERRUPTED, run.error
                assert (run.interrupt or {})["reason"] == "unknownOutcome"
                # A person checks, sees no charge, and has it made again (on the other agent).
                second = Engine(store, only(other))
                queued = await second.queue_approval(run.id, ApprovalInput(approved=True))
                done = await second.execute(queued.id)
                assert done.status == RunStatus.SUCCEEDED, done.error
                assert counts(other.counter_dir) == {"charged": 1}
            finally:
                paused.signal(signal.SIGCONT)
            # The paused agent wakes with the first request still in its socket.
            await until_handled(paused)
            assert counts(other.counter_dir) == {"charged": 1}, "charged twice"
            assert "start deadline" in paused.log()
            await first.dispatcher.aclose()
            await second.dispatcher.aclose()


def only(agent: AgentProcess) -> HttpDispatcher:
    return HttpDispatcher(StaticEndpoints({"llm": [agent.url]}))


def handled(agent: AgentProcess) -> bool:
    """The agent has answered the request it held: refused it, or made the call."""
    return "start deadline" in agent.log() or counts(agent.counter_dir) != {"charged": 1}


async def until_handled(agent: AgentProcess) -> None:
    for _ in range(150):
        if handled(agent):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{agent.name} never answered: {agent.log()[-2000:]}")
