"""Tools that are not idempotent: called by the engine once per call, results recorded, and a
person asked when a crash leaves a call's outcome unknown."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent_runtime.engine import Engine
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.engine.calls import recorded_call
from agent_runtime.engine.context import RunContext
from agent_runtime.engine.errors import RunWaiting
from agent_runtime.executors import TaskError
from agent_runtime.spec.workflow import Workflow
from agent_runtime.stores import RunStatus, StoreError
from tests.conftest import CLI
from tests.counting_tools import counts
from tests.engine.conftest import workflow as shared_workflow
from tests.engine.test_durability import wait_for


def workflow(spec: str) -> Workflow:
    return shared_workflow(spec, name="pay")


async def test_a_recorded_call_runs_once_and_its_result_is_found_again(engine: Engine) -> None:
    run = await engine.create_run(workflow(LLM), {})
    ctx = RunContext(run.id, "default/pay", engine.store, engine.dispatcher)
    made: list[int] = []

    async def call() -> str:
        made.append(1)
        return f"result {len(made)}"

    assert await recorded_call(ctx, "pay/0/c1", "charge", call) == {"done": "result 1"}
    # a node run again (retried, resumed, taken over) finds the result instead of calling
    assert await recorded_call(ctx, "pay/0/c1", "charge", call) == {"done": "result 1"}
    assert made == [1]

    async def dies() -> str:  # as a SIGKILL would: nothing after the start is written
        raise KeyboardInterrupt("the process died")

    with pytest.raises(KeyboardInterrupt):
        await recorded_call(ctx, "pay/0/c2", "charge", dies)
    assert await recorded_call(ctx, "pay/0/c2", "charge", call) == {"unknown": True}
    assert made == [1], "an unknown outcome is not called again on its own"
    assert await recorded_call(ctx, "pay/0/c2", "charge", call, again=True) == {"done": "result 2"}

    async def no_agent() -> str:
        raise RunWaiting("no agent", node="pay")

    async def fails() -> str:
        raise TaskError("the agent answered: refused")

    for key, how in (("pay/0/c3", no_agent), ("pay/0/c4", fails)):
        with pytest.raises((RunWaiting, TaskError)):
            await recorded_call(ctx, key, "charge", how)
        # never sent, or failed as the agent said: calling again is safe
        assert (await recorded_call(ctx, key, "charge", call))["done"].startswith("result")
    types = [e.type for e in await engine.store.list_events(run.id)]
    assert types.count("tool.finished") == 4 and "tool.unsent" in types
    assert "tool.failed" in types

    async def made_then_store_fails() -> str:
        """The agent made the call; recording its step met a Postgres restart."""
        made.append(1)
        raise StoreError("connection lost")

    with pytest.raises(StoreError):
        await recorded_call(ctx, "pay/0/c5", "charge", made_then_store_fails)
    # the store's trouble says nothing of the call: a replay asks, it does not call again
    assert await recorded_call(ctx, "pay/0/c5", "charge", call) == {"unknown": True}
    assert len(made) == 5


#: A model that asks for a non-idempotent tool twice (two rounds), then answers.
LLM = """
state: {out: {type: string}}
output: [out]
models:
  m:
    provider: scripted
    responses:
      - toolCalls: [{name: charge, args: {label: charged}}]
        then: "paid"
tools:
  - {name: charge, function: "tests.counting_tools:record", idempotent: false}
  - {name: look, function: "tests.counting_tools:record"}
nodes:
  - {name: pay, type: llm, model: m, prompt: go, tools: [charge, look], output: out}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


async def test_the_engine_makes_a_models_non_idempotent_calls_and_records_them(
    engine: Engine,
) -> None:
    record = await engine.create_run(workflow(LLM), {})
    done = await engine.execute(record.id)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output == {"out": "paid"}
    assert counts() == {"charged": 1}
    events = await engine.store.list_events(done.id)
    finished = [e for e in events if e.type == "tool.finished"]
    assert [(e.data["tool"], e.data["result"]) for e in finished] == [("charge", "charged")]
    assert finished[0].data["key"] == "pay/0/1/call_0"


def crash_workflow(folder: Path) -> tuple[Path, Path]:
    gate = folder / "gate"
    path = folder / "pay.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "configurable-agents.io/v1alpha1",
                "kind": "Workflow",
                "metadata": {"name": "pay"},
                "spec": {
                    "state": {"out": {"type": "string"}},
                    "output": ["out"],
                    "tools": [
                        {
                            "name": "charge",
                            "function": "tests.engine.gated_tools:gated_record",
                            "idempotent": False,
                        }
                    ],
                    "nodes": [
                        {
                            "name": "pay",
                            "type": "tool",
                            "tool": "charge",
                            "args": {"label": "charged", "gate": str(gate)},
                            "output": "out",
                        }
                    ],
                    "edges": [{"from": "START", "to": "pay"}, {"from": "pay", "to": "END"}],
                },
            }
        )
    )
    return path, gate


def crash_mid_call(path: Path, env: dict[str, str]) -> str:
    """Start a run, SIGKILL it while its call waits at the shut gate; the run's id."""
    proc = subprocess.Popen(
        [*CLI, "run", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: counts().get("charged") == 1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    listed = cli(["runs", "list", "--json"], env)
    [run] = json.loads(listed.stdout)["items"]
    return str(run["id"])


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("choice", ["again", "result", "fail"])
def test_a_call_killed_mid_way_waits_for_a_person(
    tmp_path: Path, cli_env: dict[str, str], choice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COUNTER_DIR", cli_env["COUNTER_DIR"])
    path, gate = crash_workflow(tmp_path)
    run_id = crash_mid_call(path, cli_env)

    held = cli(["runs", "resume", run_id], cli_env)
    assert held.returncode == 3, held.stderr
    assert "may or may not have taken effect" in held.stderr
    assert counts() == {"charged": 1}, "not called again blindly"
    shown: dict[str, Any] = json.loads(cli(["runs", "show", run_id], cli_env).stdout)
    assert shown["interrupt"]["reason"] == "unknownOutcome"

    gate.touch()
    if choice == "again":
        done = cli(["runs", "approve", run_id, "--reason", "checked: not charged"], cli_env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"out": "charged"}
        assert counts() == {"charged": 2}
    elif choice == "result":
        done = cli(["runs", "approve", run_id, "--result", '"charged already"'], cli_env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"out": "charged already"}
        assert counts() == {"charged": 1}
    else:
        done = cli(["runs", "deny", run_id, "--reason", "ask the bank"], cli_env)
        assert done.returncode == 1, done.stderr
        assert "a person chose to fail the run" in done.stderr
        assert counts() == {"charged": 1}
    approvals = json.loads(cli(["runs", "show", run_id], cli_env).stdout)["approvals"]
    assert [a["reason"] for a in approvals] == ["unknownOutcome"]


TIMES_OUT = """
state: {out: {type: string}}
output: [out]
tools: [{name: charge, function: "tests.counting_tools:slow_record", idempotent: false}]
nodes:
  - name: pay
    type: tool
    tool: charge
    args: {label: charged, seconds: 2}
    output: out
    timeout: 200ms
    retry: {maxAttempts: 3, initialDelay: 10ms}
edges: [{from: START, to: pay}, {from: pay, to: END}]
"""


async def test_a_timed_out_call_is_not_retried_but_asked_about(engine: Engine) -> None:
    """Its agent may still be making it: the node's retry would charge twice."""
    record = await engine.create_run(workflow(TIMES_OUT), {})
    run = await engine.execute(record.id)
    assert run.status == RunStatus.INTERRUPTED, run.error
    assert (run.interrupt or {})["reason"] == "unknownOutcome"
    assert counts() == {"charged": 1}
    steps = await engine.store.list_steps(run.id)
    assert [(s.attempt, s.status.value) for s in steps] == [(1, "failed")]
    done = await engine.execute(
        (await engine.queue_approval(run.id, ApprovalInput(approved=True, result="ok"))).id
    )
    assert done.status == RunStatus.SUCCEEDED and done.output == {"out": "ok"}
    assert counts() == {"charged": 1}
