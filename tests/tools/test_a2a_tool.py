"""The ``a2a`` tool against a real A2A agent (a2a-sdk's server classes, ``a2a_agent.py``) over HTTP
on 127.0.0.1: its card, its answers, its questions and failures, credentials, the egress policy,
and a Workflow whose model delegates to it, with the child task on the step and one trace."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent_runtime.policy import ToolPolicy, tool_policy_problems
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.telemetry.secrets import redact
from agent_runtime.telemetry.tracing import tracer
from agent_runtime.testing.openai_server import OpenAICompatibleServer, ToolCallsReply
from agent_runtime.testing.runner import AsyncWorkflowRunner
from agent_runtime.tools import ToolBox, ToolError
from agent_runtime.tools.a2a import A2aTool
from agent_runtime.tools.base import Delegated
from agent_runtime.tools.egress import EgressRefused
from tests.engine.conftest import workflow
from tests.tools.a2a_agent import EchoAgent, serve
from tests.tools.test_mcp import free_port


@pytest.fixture
def agent() -> EchoAgent:
    return EchoAgent()


@pytest.fixture
def url(agent: EchoAgent) -> Iterator[str]:
    with serve(agent) as base:
        yield base


async def tool_at(url: str, **options: object) -> A2aTool:
    tool = await ToolBox().get(ToolSpec(name="delegate", a2a={"url": url, **options}))
    assert isinstance(tool, A2aTool)
    return tool


async def test_the_card_describes_the_tool(url: str) -> None:
    tool = await tool_at(url)
    assert (
        tool.description
        == "Ask the agent 'echo'. Repeats what it is told. Skills: echo: say it back."
    )
    assert tool.parameters["required"] == ["message"]
    assert set(tool.parameters["properties"]) == {"message", "data", "taskId"}


async def test_the_answer_is_the_result_and_the_task_is_kept(url: str, agent: EchoAgent) -> None:
    tool = await tool_at(url)
    done = await tool.call({"message": "hello", "data": {"n": 2}})
    assert isinstance(done, Delegated)
    assert done.value == {"text": "echo: hello", "data": {"n": 2}}
    [got] = agent.received
    assert (got.text, got.data) == ("hello", [{"n": 2}])
    assert done.task.task_id == got.task_id and done.task.state == "completed"
    assert (done.task.tool, done.task.url, bool(done.task.context_id)) == ("delegate", url, True)


async def test_a_question_goes_back_to_the_model_and_its_answer_continues_the_task(
    url: str, agent: EchoAgent
) -> None:
    tool = await tool_at(url)
    asked = await tool.call({"message": "ask"})
    assert isinstance(asked, Delegated)
    assert asked.value["state"] == "input-required" and asked.value["message"] == "which one?"
    assert asked.value["taskId"] == asked.task.task_id == agent.received[0].task_id
    answered = await tool.call({"message": "the blue one", "taskId": asked.value["taskId"]})
    assert isinstance(answered, Delegated)
    assert answered.value == "echo: the blue one"
    assert answered.task.task_id == asked.task.task_id and answered.task.state == "completed"


async def test_a_failed_task_is_a_tool_error_with_the_remote_reason(
    url: str, agent: EchoAgent
) -> None:
    tool = await tool_at(url)
    with pytest.raises(ToolError) as caught:
        await tool.call({"message": "fail"})
    message = str(caught.value)
    assert "ended failed: the disk is on fire" in message
    assert agent.received[0].task_id in message


async def test_bad_arguments_and_a_timeout_are_tool_errors(url: str) -> None:
    tool = await tool_at(url, timeout="300ms")
    with pytest.raises(ToolError, match="takes 'message' \\(a string\\)"):
        await tool.call({"text": "hi"})
    with pytest.raises(ToolError, match=r"no answer from .* within 0\.3s") as caught:
        await tool.call({"message": "slow"})
    assert caught.value.retryable


async def test_an_unreachable_agent_is_a_retryable_error() -> None:
    with pytest.raises(ToolError, match="cannot read the agent card") as caught:
        await tool_at(f"http://127.0.0.1:{free_port()}")
    assert caught.value.retryable


async def test_credentials_come_from_the_environment_and_go_only_to_the_agent_origin(
    agent: EchoAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = [{"name": "Authorization", "env": "A2A_TEST_TOKEN", "prefix": "Bearer "}]
    with serve(agent) as base:
        with pytest.raises(ToolError, match=r"headers\[0\]\.env: the environment variable "):
            await tool_at(base, headers=header)
        monkeypatch.setenv("A2A_TEST_TOKEN", "s3cret-value-1234")
        await (await tool_at(base, headers=header)).call({"message": "hi"})
        assert agent.received[-1].headers["authorization"] == "Bearer s3cret-value-1234"
        # a card whose endpoint is another origin (same agent, spelled localhost) gets none
        with serve(agent, interface=base.replace("127.0.0.1", "localhost") + "/") as other:
            await (await tool_at(other, headers=header)).call({"message": "elsewhere"})
        assert agent.received[-1].text == "elsewhere"
        assert "authorization" not in agent.received[-1].headers


async def test_the_egress_policy_refuses_an_agent_it_does_not_allow(url: str) -> None:
    allowed = f"http://127.0.0.1:{free_port()}/"
    policy = ToolPolicy(egress_allow=[allowed], allow_loopback=True)
    spec = ToolSpec(name="delegate", a2a={"url": url})
    with pytest.raises(EgressRefused, match=r"tool 'delegate': spec.tools\[\].a2a.url refused"):
        await ToolBox(policy=policy).get(spec)
    workflow_spec = workflow(f"""
state: {{a: {{type: string}}}}
tools: [{{name: delegate, a2a: {{url: "{url}"}}}}]
nodes: [{{name: n, type: tool, tool: delegate, args: {{message: hi}}, output: a}}]
edges: [{{from: START, to: n}}, {{from: n, to: END}}]
""").spec
    [problem] = tool_policy_problems(workflow_spec, policy)
    assert problem.path == "spec.tools[0].a2a.url" and "not under" in problem.message
    # the same agent, allowed by name, answers
    tool = await ToolBox(policy=ToolPolicy(egress_allow=[f"{url}/"], allow_loopback=True)).get(spec)
    assert (await tool.call({"message": "hi"})).value == "echo: hi"


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans recorded in memory for the test: our tracer follows this provider meanwhile."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)
    tracer.cache_clear()
    yield exporter
    tracer.cache_clear()
    provider.shutdown()


FLOW = """
state: {topic: {type: string}, brief: {type: string}}
input: [topic]
output: [brief]
models: {default: {provider: openai, model: gpt-test, baseUrl: "MODEL"}}
tools: [{name: delegate, a2a: {url: "AGENT"}}]
nodes:
  - {name: write, type: llm, prompt: "Brief on {{ topic }}", tools: [delegate], output: brief}
edges: [{from: START, to: write}, {from: write, to: END}]
"""


async def test_a_workflow_delegates_records_the_child_task_and_keeps_one_trace(
    url: str, agent: EchoAgent, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    call = {"name": "delegate", "args": {"message": "research leases"}, "id": "c1"}
    with OpenAICompatibleServer(script=[ToolCallsReply([call]), "Leases expire."]) as model:
        flow = workflow(FLOW.replace("MODEL", model.base_url).replace("AGENT", url))
        async with AsyncWorkflowRunner(flow, allow_network=True) as runner:
            result = await runner.run(topic="leases")
        bodies = model.requests
    assert result.status == "succeeded", result.error
    assert result.output == {"brief": "Leases expire."}
    [got] = agent.received
    assert got.text == "research leases"
    tool_message = bodies[1]["messages"][-1]
    assert (tool_message["role"], tool_message["content"]) == ("tool", "echo: research leases")
    [step] = result.steps
    [child] = step.child_tasks
    assert (child.task_id, child.call_id, child.state) == (got.task_id, "c1", "completed")
    [finished] = [e for e in result.events if e.type == "node.finished"]
    assert finished.data["childTasks"][0]["taskId"] == got.task_id
    # the remote got the trace of the run: one trace across both
    [run_span] = [s for s in spans.get_finished_spans() if s.name.startswith("run ")]
    run_trace = f"{run_span.context.trace_id:032x}"
    assert got.headers["traceparent"].split("-")[1] == run_trace
    [tool_span] = [s for s in spans.get_finished_spans() if s.name == "execute_tool delegate"]
    assert tool_span.attributes is not None
    assert tool_span.attributes["configurable_agents.a2a.task_id"] == got.task_id
    assert json.loads(json.dumps(step.model_dump(mode="json", by_alias=True)))["childTasks"]


def test_a2a_variables_are_kept_out_of_logs_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever its name, an ``A2A_*`` variable holds a credential: an agent echoing it back, or
    an error quoting it, shows ``[REDACTED]``."""
    monkeypatch.setenv("A2A_RESEARCH", "plain-looking-value-42")
    assert redact("the agent said plain-looking-value-42") == "the agent said [REDACTED]"
