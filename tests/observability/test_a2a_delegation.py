"""A Workflow that delegates to a Workflow served by another gateway, through an ``a2a`` tool:
the remote run is the child task recorded on the step, and both runs are one trace (the tool
sends the run's ``traceparent``; the serving gateway starts the run in it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.conftest import GatewayProcess
from tests.observability.conftest import of_run, one
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.slow

EXPERT = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: expert}
spec:
  description: Explains one thing briefly
  state: {message: {type: string}, answer: {type: string}}
  input: [message]
  output: [answer]
  models: {default: {provider: scripted, responses: ["A lease is a claim that expires."]}}
  nodes: [{name: explain, type: llm, prompt: "{{ message }}", output: answer}]
  edges: [{from: START, to: explain}, {from: explain, to: END}]
"""

CALLER = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: caller}
spec:
  state: {question: {type: string}, answer: {type: string}}
  input: [question]
  output: [answer]
  models:
    default:
      provider: scripted
      responses:
        - toolCalls: [{name: expert, args: {message: "what is a lease?"}}]
          then: "The expert agrees."
  tools: [{name: expert, a2a: {url: "EXPERT_URL"}}]
  nodes: [{name: ask, type: llm, prompt: "{{ question }}", tools: [expert], output: answer}]
  edges: [{from: START, to: ask}, {from: ask, to: END}]
"""


def served(folder: Path, otlp: OtlpReceiver, service: str, workflow: str) -> GatewayProcess:
    (folder / "workflows").mkdir(parents=True)
    (folder / "workflows" / "workflow.yaml").write_text(workflow)
    env = {**otlp.env(service), "CONFIGURABLE_AGENTS_POLICY_ALLOW_LOOPBACK": "true"}
    return GatewayProcess(
        f"sqlite:///{folder / 'runs.db'}", folder, workflows=folder / "workflows", env=env
    )


@pytest.fixture
def gateways(otlp: OtlpReceiver, tmp_path: Path) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    expert = served(tmp_path / "expert", otlp, "expert-gateway", EXPERT)
    try:
        url = f"{expert.url}/a2a/default/expert"
        caller = served(
            tmp_path / "caller", otlp, "caller-gateway", CALLER.replace("EXPERT_URL", url)
        )
        try:
            yield caller, expert
        finally:
            caller.kill(15)
    finally:
        expert.kill(15)


def test_a_workflow_calling_another_through_a2a_is_one_trace(
    gateways: tuple[GatewayProcess, GatewayProcess], otlp: OtlpReceiver
) -> None:
    caller, expert = gateways
    with caller.client() as client:
        run = client.post(
            "/v1/workflows/default/caller/runs",
            json={"input": {"question": "leases?"}, "wait": True},
        ).json()
        assert run["status"] == "succeeded", run
        assert run["output"] == {"answer": "The expert agrees."}
        [step] = client.get(f"/v1/runs/{run['id']}").json()["steps"]
    [child] = step["childTasks"]
    assert child["state"] == "completed"
    with expert.client() as client:  # the child task is the expert's run
        remote = client.get(f"/v1/runs/{child['taskId']}").json()
    assert remote["output"] == {"answer": "A lease is a claim that expires."}

    def both(spans: list[ReceivedSpan]) -> bool:
        return any(s.name == "run default/expert" for s in spans) and any(
            s.name == "run default/caller" for s in spans
        )

    spans = otlp.wait_for(both)
    caller_run = one(of_run(spans, run["id"]), "run default/caller")
    expert_run = one(spans, "run default/expert")
    assert expert_run.trace_id == caller_run.trace_id, "one trace across both Workflows"
    assert expert_run.service == "expert-gateway"
    parent = next(s for s in spans if s.span_id == expert_run.parent_id)
    assert parent.service == "caller-gateway", parent.name
