"""A provider key given to the processes never shows in logs, spans, metrics, runs or errors.

The key is in the environment of a gateway and an agent (as a Secret puts it there in a pod); the
model server echoes it back in an error, as a careless proxy might; content capture and debug
logs are on (the worst case). Then every output is searched for the key: both log files, every
exported span (attributes and status), both /metrics pages, the run records, steps and events
through the API, and the run store's file itself. In a cluster the same key sits in a Secret that
an AgentPool uses: the operator's log, metrics and the objects it writes must not hold it either.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent_runtime.testing.openai_server import ErrorReply, OpenAICompatibleServer, TextReply
from tests.agent.harness import AgentProcess
from tests.gateway.conftest import GatewayProcess
from tests.observability.otlp_receiver import OtlpReceiver

pytestmark = pytest.mark.slow

KEY = f"sk-test-{secrets.token_hex(16)}"

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: keyed}}
spec:
  state:
    topic: {{type: string}}
    answer: {{type: string}}
  input: [topic]
  output: [answer]
  models:
    default: {{provider: openai, model: gpt-test, baseUrl: "{base_url}"}}
  nodes:
    - {{name: ask, type: llm, prompt: "Tell me about {{{{ topic }}}}", output: answer}}
  edges:
    - {{from: START, to: ask}}
    - {{from: ask, to: END}}
"""

#: A tool that puts the key into its error message: only the runtime's scrubbing stops it.
LEAKY = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: leaky}
spec:
  state:
    name: {type: string}
    answer: {type: string}
  input: [name]
  output: [answer]
  tools:
    - {name: leak, function: "tests.observability.leaky_tools:leak"}
  nodes:
    - {name: use, type: tool, tool: leak, args: {name: "{{ name }}"}, output: answer}
  edges:
    - {from: START, to: use}
    - {from: use, to: END}
"""


@pytest.fixture(scope="module")
def keyed(otlp: OtlpReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("keyed")
    script = [TextReply("fine"), ErrorReply(401, "invalid key", echo_authorization=True)]
    with OpenAICompatibleServer(script) as model_server, pytest.MonkeyPatch.context() as env:
        workflows = folder / "workflows"
        workflows.mkdir()
        (workflows / "keyed.yaml").write_text(WORKFLOW.format(base_url=model_server.base_url))
        (workflows / "leaky.yaml").write_text(LEAKY)
        env.setenv("OPENAI_API_KEY", KEY)
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.url)
        env.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        env.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
        env.setenv("CONFIGURABLE_AGENTS_LOG_LEVEL", "debug")
        agent = AgentProcess(folder, capabilities=("llm",))
        agent.wait_ready()
        store = folder / "runs.db"
        try:
            gateway = GatewayProcess(
                f"sqlite:///{store}", folder, "--agents", f"llm={agent.url}", workflows=workflows
            )
        except BaseException:
            agent.stop()
            raise
        try:
            yield {
                "gateway": gateway,
                "agent": agent,
                "store": store,
                "model_server": model_server,
            }
        finally:
            gateway.kill(15)
            agent.stop()


def test_the_key_is_in_no_output(keyed: dict[str, Any], otlp: OtlpReceiver) -> None:
    gateway: GatewayProcess = keyed["gateway"]
    agent: AgentProcess = keyed["agent"]
    outputs: dict[str, str] = {}
    with gateway.client() as client:
        ok = client.post(
            "/v1/workflows/default/keyed/runs", json={"input": {"topic": "keys"}, "wait": True}
        ).json()
        failed = client.post(
            "/v1/workflows/default/keyed/runs", json={"input": {"topic": "keys"}, "wait": True}
        ).json()
        assert ok["status"] == "succeeded", ok
        assert failed["status"] == "failed", failed
        # The server did echo the key: the scrubbing below is what kept it out.
        assert keyed["model_server"].headers[-1]["authorization"] == f"Bearer {KEY}"
        assert "401" in failed["error"]["message"]
        leaked = client.post(
            "/v1/workflows/default/leaky/runs",
            json={"input": {"name": "OPENAI_API_KEY"}, "wait": True},
        ).json()
        assert leaked["status"] == "failed", leaked
        assert "cannot log in with [REDACTED]" in leaked["error"]["message"]
        for run in (ok, failed, leaked):
            for path in ("", "/events"):
                outputs[f"GET /v1/runs/{run['id']}{path}"] = client.get(
                    f"/v1/runs/{run['id']}{path}",
                    headers={"accept": "text/event-stream"} if path else {},
                ).text
        outputs["GET /v1/runs"] = client.get("/v1/runs").text
        outputs["gateway /metrics"] = client.get("/metrics").text
    outputs["agent /metrics"] = httpx.get(f"{agent.url}/metrics", timeout=5).text

    spans = otlp.wait_for(
        lambda spans: (
            sum(
                s.name.startswith("run ")
                and s.attributes.get("configurable_agents.workflow") == "default/keyed"
                for s in spans
            )
            == 2
            and sum(
                s.name.startswith("chat ")
                and s.attributes.get("gen_ai.request.model") == "gpt-test"
                for s in spans
            )
            == 2
            # and the leaky run's spans, exported in a batch of their own, whatever the load
            and any("[REDACTED]" in f"{s.attributes} {s.status_message}" for s in spans)
        )
    )
    chat_spans = [s for s in spans if s.attributes.get("gen_ai.request.model") == "gpt-test"]
    assert any(s.status_code == 2 for s in chat_spans), "the failed call is marked failed"
    assert any("gen_ai.input.messages" in s.attributes for s in chat_spans)
    outputs["spans"] = "\n".join(f"{s.name} {s.attributes} {s.status_message}" for s in spans)
    outputs["gateway log"] = gateway.log.read_text(errors="replace")
    outputs["agent log"] = agent.log()
    outputs["run store"] = keyed["store"].read_bytes().decode("latin-1")

    assert '"level": "debug"' in outputs["agent log"], "debug logging was on"
    leaks = [where for where, text in outputs.items() if KEY in text]
    assert not leaks, f"the key leaked into: {leaks}"
    assert "[REDACTED]" in outputs["spans"] and "[REDACTED]" in outputs["agent log"]


@pytest.mark.cluster
def test_a_key_in_a_secret_stays_out_of_the_operator(
    operator: Any, kubectl: Any, namespace: str
) -> None:
    kubectl("create", "secret", "generic", "provider", "-n", namespace, f"--from-literal=key={KEY}")
    pool = (
        "apiVersion: configurable-agents.io/v1alpha1\nkind: AgentPool\n"
        "metadata: {name: keyed}\nspec:\n  capabilities: [llm]\n  replicas: 1\n"
        "  env: [{name: OPENAI_API_KEY, valueFrom: {secretKeyRef: {name: provider, key: key}}}]\n"
    )
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool)
    kubectl(
        "wait",
        "--for=condition=Ready",
        "agentpool/keyed",
        "-n",
        namespace,
        "--timeout=60s",
        timeout=70,
    )
    outputs = {
        "operator log": operator.log_text(),
        "operator metrics": operator.metrics(),
        "objects": kubectl(
            "get",
            "agentpool,deployment,service,serviceaccount,poddisruptionbudget,events",
            "-n",
            namespace,
            "-o",
            "yaml",
        ).stdout,
    }
    leaks = [where for where, text in outputs.items() if KEY in text]
    assert not leaks, f"the key leaked into: {leaks}"
    assert "secretKeyRef" in outputs["objects"]
