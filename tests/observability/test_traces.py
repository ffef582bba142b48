"""Traces of runs across real processes, exported over OTLP/HTTP to a real receiver.

A gateway and an agent run as separate processes configured only by ``OTEL_*`` variables; the
spans of one run must form one tree: run -> node attempt (gateway) -> task (agent) -> chat and
execute_tool, with the GenAI attributes and the token counts the run reports.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.harness import AgentProcess
from tests.conftest import EXAMPLES, REPO
from tests.gateway.conftest import GatewayProcess
from tests.observability.conftest import of_run, one
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.slow

RUN = "configurable_agents.run.id"


@pytest.fixture(scope="module")
def traced(
    otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """A gateway and an agent exporting to ``otlp``; the agent records contents (opted in).

    The agent is ``gateway.agent``.
    """
    folder = tmp_path_factory.mktemp("traced")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        agent = AgentProcess(folder, capabilities=("llm", "math"), max_concurrent_tasks=4)
        env.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
        agent.wait_ready()
        try:
            gateway = GatewayProcess(
                f"sqlite:///{folder / 'runs.db'}",
                folder,
                "--agents",
                f"llm={agent.url}",
                "--agents",
                f"math={agent.url}",
            )
        except BaseException:
            agent.stop()
            raise
    gateway.agent = agent  # type: ignore[attr-defined]
    try:
        yield gateway
    finally:
        gateway.kill(15)
        agent.stop()


def children(spans: list[ReceivedSpan], parent: ReceivedSpan) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_id == parent.span_id]


def test_a_run_is_one_tree_across_the_gateway_and_the_agent(
    traced: GatewayProcess, otlp: OtlpReceiver
) -> None:
    with traced.client() as client:
        answer = client.post(
            "/v1/workflows/default/tool-agent/runs",
            json={"input": {"question": "what is six times seven"}, "wait": True},
        )
        assert answer.status_code == 200, answer.text
        run = answer.json()
        assert run["status"] == "succeeded", run
        steps = client.get(f"/v1/runs/{run['id']}").json()["steps"]

    def complete(spans: list[ReceivedSpan]) -> bool:
        mine = of_run(spans, run["id"])
        return (
            any(s.name.startswith("run ") for s in mine)
            and sum(s.name == "execute_tool word_count" for s in mine) == 1
        )

    spans = of_run(otlp.wait_for(complete), run["id"])
    assert len({s.trace_id for s in spans}) == 1, "one trace for the whole run"

    root = one(spans, "run default/tool-agent")
    assert root.parent_id == "" and root.service == "configurable-agents-gateway"
    assert root.attributes["configurable_agents.run.status"] == "succeeded"

    solve = one(spans, "node solve")
    count = one(spans, "node count")
    assert solve.parent_id == root.span_id and count.parent_id == root.span_id
    assert solve.attributes["configurable_agents.node.attempt"] == 1

    # The agent's task span is a child of the gateway's node-attempt span (W3C traceparent).
    task_solve = one(spans, "task solve")
    task_count = one(spans, "task count")
    assert task_solve.service == "configurable-agents-agent"
    assert task_solve.parent_id == solve.span_id
    assert task_count.parent_id == count.span_id

    chats = [s for s in children(spans, task_solve) if s.name.startswith("chat ")]
    assert len(chats) == 2, "a tool-call round, then the answer"
    for chat in chats:
        assert chat.attributes["gen_ai.operation.name"] == "chat"
        assert chat.attributes["gen_ai.provider.name"] == "scripted"
        assert chat.attributes["gen_ai.system"] == "scripted"
        assert chat.attributes["gen_ai.request.model"] == "scripted"
        assert chat.attributes["gen_ai.usage.input_tokens"] > 0
        assert chat.attributes["gen_ai.usage.output_tokens"] > 0
        # The agent opted in to content capture: the prompt is there.
        assert "what is six times seven" in chat.attributes["gen_ai.input.messages"]

    tool = one(children(spans, task_solve), "execute_tool calculate")
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "calculate"
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"expression": "6 * 7"}
    assert "42" in tool.attributes["gen_ai.tool.call.result"]
    word_count = one(children(spans, task_count), "execute_tool word_count")
    assert word_count.attributes["gen_ai.tool.name"] == "word_count"

    # Token counts agree: the chat spans, the node span, the run span and the run's steps.
    solve_step = next(s for s in steps if s["node"] == "solve")
    chat_in = sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats)
    chat_out = sum(c.attributes["gen_ai.usage.output_tokens"] for c in chats)
    assert (chat_in, chat_out) == (solve_step["inputTokens"], solve_step["outputTokens"])
    assert solve.attributes["configurable_agents.usage.input_tokens"] == chat_in
    assert root.attributes["configurable_agents.usage.output_tokens"] == sum(
        s["outputTokens"] for s in steps
    )

    # The agent's JSON log lines of this run name its trace, the task's span, the run and node.
    agent: AgentProcess = traced.agent  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in agent.log().splitlines() if run["id"] in line]
    assert lines, "the agent logs each task"
    for line in lines:
        assert line["trace_id"] == root.trace_id
        assert line["workflow"] == "default/tool-agent"
        assert line["node"] in ("solve", "count")
        task = task_solve if line["node"] == "solve" else task_count
        assert line["span_id"] == task.span_id

    # The gateway logs the run's life at info level, each line with the run and its trace.
    gateway_lines = [
        json.loads(line)
        for line in traced.log.read_text().splitlines()
        if line.startswith("{") and run["id"] in line
    ]
    messages = [line["message"] for line in gateway_lines]
    accepted = f"run {run['id']} accepted (default/tool-agent) for system:anonymous"
    assert accepted in messages
    assert f"run {run['id']} started" in messages
    assert f"run {run['id']} succeeded" in messages
    for line in gateway_lines:
        assert line["run_id"] == run["id"]
        if line["message"] != accepted:
            assert line["trace_id"] == root.trace_id, line


def test_a_resumed_run_links_to_the_trace_it_began_in(
    traced: GatewayProcess, otlp: OtlpReceiver
) -> None:
    with traced.client() as client:
        started = client.post(
            "/v1/workflows/default/human-approval/runs",
            json={"input": {"topic": "leases"}, "wait": True},
        ).json()
        assert started["status"] == "interrupted", started
        resumed = client.post(
            f"/v1/runs/{started['id']}/resume",
            json={"input": {"approved": True, "feedback": "ok"}},
        )
        assert resumed.status_code < 300, resumed.text

    def both(spans: list[ReceivedSpan]) -> bool:
        runs = [s for s in of_run(spans, started["id"]) if s.name.startswith("run ")]
        return len(runs) == 2 and all(
            "configurable_agents.run.status" in s.attributes for s in runs
        )

    spans = of_run(otlp.wait_for(both), started["id"])
    first, second = sorted(
        (s for s in spans if s.name.startswith("run ")),
        key=lambda s: s.attributes["configurable_agents.run.resumed"],
    )
    assert first.attributes["configurable_agents.run.status"] == "interrupted"
    assert second.attributes["configurable_agents.run.status"] == "succeeded"
    assert second.trace_id != first.trace_id
    assert second.links == [(first.trace_id, first.span_id)]


def test_a_run_started_by_a_traced_caller_joins_the_callers_trace(
    traced: GatewayProcess, otlp: OtlpReceiver
) -> None:
    """A Workflow calling another (an ``a2a`` tool) or any traced client sees one trace; a
    malformed ``traceparent`` is ignored, as OpenTelemetry's propagator ignores it."""
    caller_trace, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    with traced.client() as client:
        joined = client.post(
            "/v1/workflows/default/tool-agent/runs",
            json={"input": {"question": "what is six times seven"}, "wait": True},
            headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
        ).json()
        alone = client.post(
            "/v1/workflows/default/tool-agent/runs",
            json={"input": {"question": "what is six times seven"}, "wait": True},
            headers={"traceparent": f"00-{caller_trace}-not-a-span"},
        ).json()
    assert joined["status"] == alone["status"] == "succeeded", (joined, alone)

    def both(spans: list[ReceivedSpan]) -> bool:
        return all(
            any(s.name.startswith("run ") for s in of_run(spans, r["id"])) for r in (joined, alone)
        )

    spans = otlp.wait_for(both)
    root = one(of_run(spans, joined["id"]), "run default/tool-agent")
    assert (root.trace_id, root.parent_id) == (caller_trace, caller_span)
    assert {s.trace_id for s in of_run(spans, joined["id"])} == {caller_trace}
    other = one(of_run(spans, alone["id"]), "run default/tool-agent")
    assert other.trace_id != caller_trace and other.parent_id == ""


def test_the_cli_records_cost_and_no_contents_unless_asked(
    otlp: OtlpReceiver, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("scripted: {input: 3.0, output: 15.0}\n")
    env = dict(
        cli_env,
        CONFIGURABLE_AGENTS_PRICES=str(prices),
        **otlp.env("cli-test"),
        PYTHONPATH=str(REPO),
    )
    env.pop("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent_runtime",
            "run",
            str(EXAMPLES / "05-tool-agent/workflow.yaml"),
            "--input",
            "question=what is six times seven",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    spans = otlp.wait_for(
        lambda s: any(x.service == "cli-test" and x.name.startswith("run ") for x in s)
    )
    mine = [s for s in spans if s.service == "cli-test"]
    root = one(mine, "run default/tool-agent")
    tokens_in = root.attributes["configurable_agents.usage.input_tokens"]
    tokens_out = root.attributes["configurable_agents.usage.output_tokens"]
    assert tokens_in > 0 and tokens_out > 0
    assert root.attributes["configurable_agents.cost.usd"] == pytest.approx(
        (tokens_in * 3.0 + tokens_out * 15.0) / 1_000_000
    )
    chats = [s for s in mine if s.name.startswith("chat ")]
    assert chats and all("configurable_agents.cost.usd" in c.attributes for c in chats)
    # In-process, the chat spans hang from the node-attempt span directly.
    solve = one(mine, "node solve")
    assert {c.parent_id for c in chats} == {solve.span_id}
    for span in mine:
        for key in (
            "gen_ai.input.messages",
            "gen_ai.output.messages",
            "gen_ai.tool.call.arguments",
            "gen_ai.tool.call.result",
        ):
            assert key not in span.attributes, f"{span.name} recorded {key} without the opt-in"


CRASHING = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: crash-trace}
spec:
  state:
    trail: {type: array, items: {type: string}, reducer: append}
  output: [trail]
  tools:
    - {name: record, function: "tests.counting_tools:record"}
    - {name: slow_record, function: "tests.counting_tools:slow_record"}
  nodes:
    - {name: first, type: tool, tool: record, args: {label: first}, output: trail}
    - {name: slow, type: tool, tool: slow_record, args: {label: slow, seconds: 3}, output: trail}
  edges:
    - {from: START, to: first}
    - {from: first, to: slow}
    - {from: slow, to: END}
"""


def test_a_run_resumed_after_a_crash_links_to_its_first_trace(
    otlp: OtlpReceiver, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """The killed process never ended its run span; its finished node spans name the trace."""
    path = tmp_path / "crash.yaml"
    path.write_text(CRASHING)
    env = dict(cli_env, **otlp.env("crash-test"))
    counter = Path(env["COUNTER_DIR"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_runtime", "run", str(path), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        spans = otlp.wait_for(
            lambda s: any(x.service == "crash-test" and x.name == "node first" for x in s)
        )
        deadline = time.monotonic() + 20
        while not (counter / "slow").exists():
            assert time.monotonic() < deadline, "the slow node never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    first_trace = next(x for x in spans if x.service == "crash-test").trace_id
    listed = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "runs", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    run_id = json.loads(listed.stdout)["items"][0]["id"]
    done = subprocess.run(
        [sys.executable, "-m", "agent_runtime", "run", str(path), "--resume", run_id, "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    spans = otlp.wait_for(
        lambda s: any(x.service == "crash-test" and x.name.startswith("run ") for x in s)
    )
    resumed = one([s for s in spans if s.service == "crash-test"], "run default/crash-trace")
    assert resumed.attributes["configurable_agents.run.resumed"] is True
    assert resumed.trace_id != first_trace
    assert [trace_id for trace_id, _ in resumed.links] == [first_trace]
