"""A call the engine makes once carries a start deadline, and an agent that gets to it later
refuses it: otherwise an agent paused while holding the call makes it after a person (told its
outcome is unknown) chose to make it again, and the charge happens twice."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.engine import Engine
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.errors import RunError
from agent_runtime.engine.remote import TASKS_PATH, HttpDispatcher, StaticEndpoints
from agent_runtime.engine.task_stream import refusal
from agent_runtime.executors import NodeTask, TaskExecutor, TaskNotStarted, TaskResult
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.stores import RunStatus, RunStore, open_store
from agent_runtime.stores.records import utcnow
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
        with pytest.raises(TaskNotStarted, match=r"start deadline \(.*\) passed"):
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


class FrozenOnce(HttpDispatcher):
    """Freezes the whole process (no event loop: no lease renewal either) before its first
    send, as a SIGSTOP of the gateway between ``tool.started`` and sending would; on waking,
    its send wins the race with the lease renewal that would have cancelled it (its bytes
    leave before the loop runs again)."""

    def __init__(self, agent: AgentProcess, seconds: float) -> None:
        super().__init__(StaticEndpoints({"llm": [agent.url]}))
        self.agent = agent
        self.seconds: float | None = seconds

    async def dispatch(self, task: NodeTask, **kwargs: Any) -> TaskResult:
        if self.seconds is None:
            return await super().dispatch(task, **kwargs)
        self.seconds, frozen = None, self.seconds
        time.sleep(frozen)  # noqa: ASYNC251 - the point: nothing else runs meanwhile
        sent = httpx.post(  # noqa: ASYNC210 - sent while the loop cannot run, as frozen
            self.agent.url + TASKS_PATH,
            content=task.model_dump_json(by_alias=True),
            headers={"content-type": "application/json"},
            timeout=10,
        )
        error = sent.json()["error"]
        raise refusal(self.agent.url, sent.status_code, error["code"], error["message"], None)


UNTIMED = """
state: {out: {type: string}}
output: [out]
tools: [{name: charge, function: "tests.counting_tools:record", idempotent: false}]
nodes:
  - {name: pay, type: tool, tool: charge, args: {label: charged}, output: out, retry: {maxAttempts: 1}}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


async def test_a_gateway_frozen_before_sending_does_not_make_the_call_again(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A gateway frozen between ``tool.started`` and sending loses its lease; the survivor
    finds the call's outcome unknown and a person has it made (on another agent, whose cache
    of task keys cannot help); the frozen one wakes and sends its copy, which its agent
    refuses: one charge."""
    with agents(tmp_path, 2, capabilities=["llm"]) as (agent, other):
        async with open_store(sqlite_url) as store:
            record = await Engine(store, only(agent)).create_run(workflow(UNTIMED, name="pay"), {})

        outcome: dict[str, object] = {}

        def frozen_gateway() -> None:
            async def execute() -> None:
                async with open_store(sqlite_url) as store:
                    frozen = FrozenOnce(agent, seconds=4.0)
                    engine = Engine(store, frozen, lease_ttl=1.0, owner="frozen")
                    try:
                        outcome["run"] = await engine.execute(record.id)
                    except RunError as exc:
                        outcome["error"] = exc
                    finally:
                        await frozen.aclose()

            asyncio.run(execute())

        thread = threading.Thread(target=frozen_gateway)
        thread.start()
        try:
            async with open_store(sqlite_url) as store:
                await until_expired(store, record.id)
                survivor = Engine(store, only(other), lease_ttl=1.0, owner="survivor")
                asked = await survivor.execute(record.id)
                assert asked.status == RunStatus.INTERRUPTED, asked.error
                assert (asked.interrupt or {})["reason"] == "unknownOutcome"
                queued = await survivor.queue_approval(record.id, ApprovalInput(approved=True))
                done = await survivor.execute(queued.id)
                assert done.status == RunStatus.SUCCEEDED, done.error
                assert counts(agent.counter_dir) == {"charged": 1}
                await survivor.dispatcher.aclose()
        finally:
            thread.join(timeout=30)
        assert "lost its lease" in str(outcome.get("error")), outcome
        await until_handled(agent)
        assert counts(agent.counter_dir) == {"charged": 1}, "charged twice"
        assert "start deadline" in agent.log()


async def until_expired(store: RunStore, run_id: str) -> None:
    """Until the frozen gateway has written ``tool.started`` and its lease has run out."""
    for _ in range(200):
        run = await store.get_run(run_id)
        started = any(e.type == "tool.started" for e in await store.list_events(run_id))
        expired = run.lease_expires_at is not None and run.lease_expires_at < utcnow()
        if started and expired:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the frozen gateway never started the call, or its lease never ran out")


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
