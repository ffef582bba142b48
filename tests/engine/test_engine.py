"""The engine in-process: retries, timeouts, limits, branches, cancel, and what runs record."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent_runtime.engine import Engine, InputError
from agent_runtime.spec.run_input import check_input
from agent_runtime.spec.workflow import Workflow
from agent_runtime.stores import RunEvent, RunStatus, RunStore, StepStatus
from tests.counting_tools import counts
from tests.engine.conftest import workflow


async def run(
    engine: Engine, wf: Workflow, given: dict[str, Any] | None = None
) -> tuple[Any, list[RunEvent]]:
    events: list[RunEvent] = []
    record = await engine.create_run(wf, given or {})
    done = await engine.execute(record.id, listeners=[events.append])
    return done, events


FLAKY = """
state: {out: {type: string}}
output: [out]
tools: [{name: flaky, function: "tests.counting_tools:flaky"}]
nodes:
  - name: shaky
    type: tool
    tool: flaky
    args: {label: shaky, failures: %d}
    output: out
    retry: {maxAttempts: 3, initialDelay: 10ms, backoff: 2.0, maxDelay: 15ms}
edges: [{from: START, to: shaky}, {from: shaky, to: END}]
"""


async def test_retry_until_success_records_each_attempt(engine: Engine) -> None:
    done, events = await run(engine, workflow(FLAKY % 2))
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output == {"out": "shaky"}
    steps = await engine.store.list_steps(done.id)
    assert [(s.attempt, s.status) for s in steps] == [
        (1, StepStatus.RETRYING),
        (2, StepStatus.RETRYING),
        (3, StepStatus.SUCCEEDED),
    ]
    assert "failed on purpose" in (steps[0].error or "")
    assert [e.type for e in events].count("node.retrying") == 2


async def test_retries_exhausted_fail_the_run(engine: Engine) -> None:
    done, events = await run(engine, workflow(FLAKY % 5))
    assert done.status == RunStatus.FAILED
    assert done.error["code"] == "node_failed"
    assert done.error["node"] == "shaky"
    assert "after 3 attempts" in done.error["message"]
    assert counts() == {"shaky": 3}
    assert events[-1].type == "run.finished" and events[-1].data["status"] == "failed"


def test_backoff_is_capped() -> None:
    from agent_runtime.spec.workflow import RetryPolicy

    policy = RetryPolicy(max_attempts=10, initial_delay=1, backoff=2, max_delay=5)
    assert [policy.delay(n) for n in range(1, 6)] == [1, 2, 4, 5, 5]


SLOW = """
state: {topic: {type: string}, out: {type: string}}
input: [topic]
output: [out]
models: {default: {provider: scripted, delay: 500ms}}
nodes:
  - {name: slow, type: llm, prompt: "{{ topic }}", output: out, timeout: 50ms, retry: {maxAttempts: 2, initialDelay: 10ms}}
edges: [{from: START, to: slow}, {from: slow, to: END}]
"""


async def test_node_timeout_counts_as_a_failed_attempt(engine: Engine) -> None:
    done, _ = await run(engine, workflow(SLOW), {"topic": "x"})
    assert done.status == RunStatus.FAILED
    assert "timed out after 0.05s (timeout)" in done.error["message"]
    steps = await engine.store.list_steps(done.id)
    assert [s.status for s in steps] == [StepStatus.RETRYING, StepStatus.FAILED]


async def test_limits_timeout_fails_the_run(engine: Engine) -> None:
    spec = SLOW.replace("timeout: 50ms, ", "").replace(
        "output: [out]", "output: [out]\nlimits: {timeout: 100ms}"
    )
    done, _ = await run(engine, workflow(spec), {"topic": "x"})
    assert done.status == RunStatus.FAILED
    assert done.error["code"] == "timeout"
    assert "limits.timeout" in done.error["message"]


LOOP = """
state: {n: {type: integer, reducer: sum}}
output: [n]
tools: [{name: record, function: "tests.counting_tools:record"}]
nodes:
  - {name: tick, type: tool, tool: record, args: {label: tick}}
  - {name: again, type: router}
edges:
  - {from: START, to: tick}
  - {from: tick, to: again}
  - from: again
    branches:
      - {when: "state.n > 100", to: END}
      - {to: tick}
limits: {maxSteps: 10}
"""


async def test_max_steps_stops_a_loop(engine: Engine) -> None:
    done, _ = await run(engine, workflow(LOOP))
    assert done.status == RunStatus.FAILED
    assert done.error["code"] == "max_steps"
    assert "limits.maxSteps" in done.error["message"]
    assert counts()["tick"] == 5


async def test_no_matching_branch_is_a_clear_failure(engine: Engine) -> None:
    spec = LOOP.replace("      - {to: tick}\n", "")
    done, _ = await run(engine, workflow(spec))
    assert done.status == RunStatus.FAILED
    assert done.error["code"] == "no_branch"
    assert "spec.edges[2]" in done.error["message"]


STRUCTURED = """
state: {score: {type: integer}}
output: [score]
models: {default: {provider: scripted, responses: [{score: "high"}, {score: 7}]}}
nodes:
  - {name: grade, type: llm, prompt: grade it, output: {score: {type: integer}}, retry: {maxAttempts: 2, initialDelay: 1ms}}
edges: [{from: START, to: grade}, {from: grade, to: END}]
"""


async def test_structured_output_of_the_wrong_type_is_rejected(engine: Engine) -> None:
    done, _ = await run(engine, workflow(STRUCTURED.replace("maxAttempts: 2", "maxAttempts: 1")))
    assert done.status == RunStatus.FAILED
    assert "output score: expected integer, got string" in done.error["message"]


async def test_visits_pick_scripted_responses_in_order(engine: Engine) -> None:
    wf = workflow(
        LOOP.replace("state.n > 100", "state.n >= 3")
        .replace(
            "{name: tick, type: tool, tool: record, args: {label: tick}}",
            "{name: tick, type: llm, prompt: go, output: {n: {type: integer}}}",
        )
        .replace(
            'tools: [{name: record, function: "tests.counting_tools:record"}]',
            "models: {default: {provider: scripted, responses: [{n: 1}, {n: 1}, {n: 1}, {n: 50}]}}",
        )
    )
    done, _ = await run(engine, wf)
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output == {"n": 3}
    steps = await engine.store.list_steps(done.id)
    assert [(s.node, s.visit) for s in steps if s.node == "tick"] == [
        ("tick", 0),
        ("tick", 1),
        ("tick", 2),
    ]


async def test_cancel_stops_a_running_run_before_its_next_node(engine: Engine) -> None:
    spec = """
state: {topic: {type: string}, a: {type: string}, b: {type: string}}
input: [topic]
output: [b]
models: {default: {provider: scripted, delay: 1s}}
nodes:
  - {name: a, type: llm, prompt: "{{ topic }}", output: a}
  - {name: b, type: llm, prompt: "{{ a }}", output: b}
edges: [{from: START, to: a}, {from: a, to: b}, {from: b, to: END}]
"""
    wf = workflow(spec)
    record = await engine.create_run(wf, {"topic": "x"})
    in_a = asyncio.Event()

    def heard(event: RunEvent) -> None:
        if event.type == "node.started" and event.data["node"] == "a":
            in_a.set()

    task = asyncio.create_task(engine.execute(record.id, listeners=[heard]))
    await asyncio.wait_for(in_a.wait(), 30)  # in the middle of node a, on a machine of any speed
    cancelled = await engine.cancel(record.id)
    assert cancelled.status == RunStatus.CANCELLED
    done = await task
    assert done.status == RunStatus.CANCELLED
    # a is never recorded finished (its commit came after the cancel, which ended the lease: the
    # store refuses it), b never starts, and nothing is written after the cancel's last event
    steps = await engine.store.list_steps(record.id)
    assert [(s.node, s.status) for s in steps] in ([], [("a", StepStatus.RUNNING)])
    assert (await engine.store.list_events(record.id))[-1].type == "run.finished"


async def test_bad_input_writes_nothing(engine: Engine) -> None:
    wf = workflow(SLOW)
    with pytest.raises(InputError) as err:
        await engine.create_run(wf, {"topic": 3, "extra": 1})
    assert err.value.problems == [
        "input.extra: not an input of this workflow (inputs: topic)",
        "input.topic: expected string, got integer",
    ]
    assert (await engine.store.list_runs()).items == []


async def test_input_checked_for_another_spec_is_checked_again(engine: Engine) -> None:
    """The CLI checks input before it opens a store and the engine takes it as checked; input
    checked against another spec (an edited file, say) is checked again and refused here."""
    wf = workflow(SLOW)
    checked = check_input(wf.spec, {"topic": "x"})
    record = await engine.create_run(wf, checked)
    assert record.input == {"topic": "x"} and type(record.input) is dict
    other = workflow(
        SLOW.replace("input: [topic]", "input: [topic, n]").replace(
            "topic: {type: string},", "topic: {type: string}, n: {type: integer},"
        )
    )
    with pytest.raises(InputError, match=r"input\.n: required"):
        await engine.create_run(other, checked)
    assert [r.id for r in (await engine.store.list_runs()).items] == [record.id]


async def test_a_run_keeps_the_spec_it_started_with(engine: Engine) -> None:
    wf = workflow(SLOW.replace("delay: 500ms", "delay: 0s").replace("timeout: 50ms, ", ""))
    record = await engine.create_run(wf, {"topic": "x"})
    assert record.spec_hash == wf.spec.content_hash()
    assert record.spec["spec"]["nodes"][0]["prompt"] == "{{ topic }}"
    done = await engine.execute(record.id)
    assert done.output == {"out": "x"}


async def test_events_are_numbered_and_persisted(engine: Engine) -> None:
    done, events = await run(engine, workflow(FLAKY % 0))
    stored = await engine.store.list_events(done.id)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    assert (
        [e.type for e in stored]
        == [e.type for e in events]
        == ["run.started", "node.started", "node.finished", "run.finished"]
    )


async def test_a_failed_run_goes_on_from_its_last_checkpoint(engine: Engine) -> None:
    spec = """
state: {a: {type: string}, b: {type: string}}
output: [a, b]
tools:
  - {name: record, function: "tests.counting_tools:record"}
  - {name: flaky, function: "tests.counting_tools:flaky"}
nodes:
  - {name: first, type: tool, tool: record, args: {label: first}, output: a}
  - {name: second, type: tool, tool: flaky, args: {label: second, failures: 1}, output: b}
edges: [{from: START, to: first}, {from: first, to: second}, {from: second, to: END}]
"""
    done, _ = await run(engine, workflow(spec))
    assert done.status == RunStatus.FAILED
    again = await engine.execute(done.id)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert again.output == {"a": "first", "b": "second"}
    assert counts() == {"first": 1, "second": 2}


class _Busy:
    """Agents that are all busy and ask to be left alone for ``retry_after`` seconds."""

    def __init__(self, retry_after: float | None) -> None:
        self.retry_after = retry_after

    async def dispatch(self, task: Any, *, on_delta: Any = None) -> Any:
        from agent_runtime.engine.remote import AgentsUnavailable

        raise AgentsUnavailable(task.capability, ["a busy"], self.retry_after)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("retry_after", [None, 7.0])
async def test_a_run_with_every_agent_busy_waits_as_long_as_they_ask(
    store: RunStore, retry_after: float | None
) -> None:
    engine = Engine(store, _Busy(retry_after), wait_backoff=2.0)
    wf = workflow(
        """
state: {out: {type: string}}
output: [out]
models: {default: {provider: scripted}}
nodes: [{name: n, type: llm, prompt: hi, output: out}]
edges: [{from: START, to: n}, {from: n, to: END}]
"""
    )
    record = await engine.create_run(wf, {})
    done = await engine.execute(record.id)
    assert done.status == RunStatus.QUEUED and done.lease_owner is None
    assert done.lease_expires_at is not None
    waited = (done.lease_expires_at - done.updated_at).total_seconds()
    assert waited == pytest.approx(retry_after or 2.0, abs=0.5)
    events = [e.type for e in await store.list_events(record.id)]
    assert events[-1] == "run.waiting"
