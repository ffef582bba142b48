"""Secrets stay secret: three canaries appear in no output of a run that fails, one retried and one
resumed, on every run store; nor in what the operator writes for a pool that takes them from a Secret.

The canaries are where credentials really live:

- ``provider key``: ``OPENAI_API_KEY`` of the agent. The model server (loopback, spoken to by
  the real ``openai`` SDK) quotes the Authorization header it got in its 401 and 500 errors.
- ``secret env var``: ``CRM_LOGIN``, a Secret-backed variable of the agent whose name does not
  look secret, so only the operator's list of such variables (``CONFIGURABLE_AGENTS_SECRET_ENV``)
  tells the agent; the ``crm_lookup`` tool sends it as a bearer token and the CRM echoes it back.
- ``tool argument``: the ``api_key`` argument the model passes to the ``search`` tool (the
  value of the agent's ``SEARCH_KEY``: the platform can only scrub secrets it knows, and it
  knows those of its environment, here by the variable's name). The call's arguments are
  recorded in spans (content capture on) and the search API quotes the key in its refusal,
  which the tool raises. ``search`` needs an approval and is not ``idempotent`` (the engine
  makes its calls), so each call waits in the checkpoint, and in the approval request a person
  reads, with its key sealed; an agent unseals it to make the call.

The runs: ``fail-*`` gets the provider's 401; ``retry-*`` gets a 500, is retried, waits for the
approval of its search call and succeeds; ``resume-*`` waits for that approval, then at a human
node, is resumed (once with bad input), and ends in a tool node whose ``crm_lookup`` answer (the
CRM's echo of its token) goes into the state.

Only the agent holds the secrets, as in a cluster where the pool's pods get them and the gateway's
do not: whatever reaches the gateway must already be clean. Then everything is searched: the
store's raw contents, runs, steps and SSE events through the API, error answers of the API and
the CLI, every process's log (debug level), every exported span, both /metrics pages, and the
database server's log. The test proves the secrets were in play (the services saw each one, and
``[REDACTED]`` shows where scrubbing happened), so a clean search means something.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.harness import AgentProcess
from tests.conftest import REPO
from tests.gateway.conftest import GatewayProcess
from tests.observability.otlp_receiver import OtlpReceiver, ReceivedSpan, receiver
from tests.security.fake_services import ANSWER, FakeServices
from tests.security.secret_tools import SERVICES_ENV
from tests.security.store_dump import dump

pytestmark = pytest.mark.slow

KEY = f"canary-{uuid.uuid4().hex}"
ENV = f"canary-{uuid.uuid4().hex}"
ARG = f"canary-{uuid.uuid4().hex}"
CANARIES = {"provider key": KEY, "secret env var": ENV, "tool argument": ARG}
RUN_ID = "configurable_agents.run.id"
RUN_STATUS = "configurable_agents.run.status"
SECRET_ENV = "CONFIGURABLE_AGENTS_SECRET_ENV"

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: canary{namespace}}}
spec:
  state:
    topic: {{type: string}}
    answer: {{type: string}}
    approved: {{type: boolean}}
    crm: {{type: object}}
  input: [topic]
  output: [answer, approved, crm]
  models:
    default: {{provider: openai, model: gpt-canary, baseUrl: "{base_url}"}}
  tools:
    - {{name: crm_lookup, function: "tests.security.secret_tools:crm_lookup"}}
    - {{name: search, function: "tests.security.secret_tools:search", idempotent: false}}
  nodes:
    - name: ask
      type: llm
      prompt: "Write a brief on {{{{ topic }}}}"
      tools: [crm_lookup, search]
      requireApproval: [search]
      output: answer
      retry: {{maxAttempts: 2, initialDelay: 50ms}}
    - name: review
      type: human
      prompt: "Approve the brief on {{{{ topic }}}}?"
      output: {{approved: {{type: boolean}}}}
    - {{name: record, type: tool, tool: crm_lookup, args: {{account: acme}}, output: crm}}
  edges:
    - {{from: START, to: ask}}
    - from: ask
      branches:
        - {{when: "state.topic.startsWith('resume')", to: review}}
        - {{to: END}}
    - {{from: review, to: record}}
    - {{from: record, to: END}}
"""

#: Every process writes its spans to the receiver and logs at debug level, content capture on:
#: the worst case for leaks.
TELEMETRY = {
    "OTEL_BSP_SCHEDULE_DELAY": "100",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    "CONFIGURABLE_AGENTS_LOG_LEVEL": "debug",
    "CONFIGURABLE_AGENTS_LOG_FORMAT": "json",
}


def forms(value: str) -> dict[str, str]:
    """How a canary could show: itself, without its prefix, or base64 (as in a Secret's data)."""
    return {
        "": value,
        " (hex part)": value.removeprefix("canary-"),
        " (base64)": base64.b64encode(value.encode()).decode(),
    }


def leaks(outputs: dict[str, str], canaries: dict[str, str] = CANARIES) -> list[str]:
    """Where any canary shows, with some text around it."""
    found = []
    for where, text in outputs.items():
        for name, canary in canaries.items():
            for form, needle in forms(canary).items():
                at = text.find(needle)
                if at >= 0:
                    around = text[max(0, at - 120) : at + len(needle) + 60]
                    found.append(f"{name}{form} in {where}: ...{around}...")
    return found


@pytest.fixture(scope="module")
def otlp() -> Iterator[OtlpReceiver]:
    yield from receiver()


@pytest.fixture(scope="module")
def services() -> Iterator[FakeServices]:
    with FakeServices(crm_token=ENV, search_key=ARG) as running:
        yield running


@pytest.fixture(scope="module")
def workflows(tmp_path_factory: pytest.TempPathFactory, services: FakeServices) -> Path:
    folder = tmp_path_factory.mktemp("canary-workflows")
    text = WORKFLOW.format(namespace="", base_url=f"{services.url}/v1")
    (folder / "canary.yaml").write_text(text)
    return folder


@pytest.fixture(scope="module")
def agent(
    tmp_path_factory: pytest.TempPathFactory, services: FakeServices, otlp: OtlpReceiver
) -> Iterator[AgentProcess]:
    """One agent for every store; it alone holds the secrets, as a pool's pods do."""
    started = AgentProcess(
        tmp_path_factory.mktemp("canary-agent"),
        capabilities=("llm",),
        extra_env={
            **otlp.env("agent"),
            **TELEMETRY,
            SERVICES_ENV: services.url,
            "OPENAI_API_KEY": KEY,
            "CRM_LOGIN": ENV,
            "SEARCH_KEY": ARG,
            # What the operator puts in a pool's pods for variables taken from Secrets.
            SECRET_ENV: "CRM_LOGIN",
        },
    )
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def settle(client: httpx.Client, run_id: str, *, until: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        run: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] in until:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(0.05)


def start(client: httpx.Client, topic: str) -> dict[str, Any]:
    answer = client.post(
        "/v1/workflows/default/canary/runs", json={"input": {"topic": topic}, "wait": True}
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def approve(client: httpx.Client, run_id: str, *, until: tuple[str, ...]) -> dict[str, Any]:
    answer = client.post(f"/v1/runs/{run_id}/approve", json={"approved": True})
    assert answer.status_code < 300, answer.text
    assert answer.json()["status"] == "queued", answer.text  # so ``interrupted`` is the next stop
    return settle(client, run_id, until=until)


def spans_of(spans: list[ReceivedSpan], run_id: str) -> list[ReceivedSpan]:
    traces = {s.trace_id for s in spans if s.attributes.get(RUN_ID) == run_id}
    return [s for s in spans if s.trace_id in traces]


def cli(*args: str) -> str:
    """A CLI command's stdout and stderr, run as an operator's laptop would: no secrets set."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY",)}
    env["PYTHONPATH"] = str(REPO)
    done = subprocess.run(
        [sys.executable, "-m", "agent_runtime", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"


def test_canaries_stay_out_of_every_output(
    store_url: str,
    agent: AgentProcess,
    services: FakeServices,
    workflows: Path,
    otlp: OtlpReceiver,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    backend = store_url.split(":", 1)[0]
    env = {**otlp.env("gateway"), **TELEMETRY}
    gateway = GatewayProcess(
        store_url, tmp_path, "--agents", f"llm={agent.url}", workflows=workflows, env=env
    )
    outputs: dict[str, str] = {}
    try:
        with gateway.client() as client:
            failed = start(client, f"fail-{backend}")
            retried = start(client, f"retry-{backend}")
            resumed = start(client, f"resume-{backend}")
            assert failed["status"] == "failed", failed
            assert "401" in failed["error"]["message"], failed["error"]
            # Each call of ``search`` waits for an approval; the person sees that it passes a
            # secret, not the secret.
            for run in (retried, resumed):
                assert run["status"] == "interrupted", run
                asked = json.dumps(run["interrupt"])
                outputs[f"approval request of {run['id']}"] = asked
                assert '"api_key": "[REDACTED:SEARCH_KEY:' in asked, asked
            retried = approve(client, retried["id"], until=("succeeded", "failed"))
            assert retried["status"] == "succeeded", retried
            attempts = [(s["attempt"], s["status"]) for s in retried["steps"]]
            assert attempts[0] == (1, "retrying") and attempts[-1][1] == "succeeded", attempts
            resumed = approve(client, resumed["id"], until=("interrupted", "failed"))
            assert resumed["interrupt"]["kind"] != "approval", resumed
            answer = client.post(
                f"/v1/runs/{resumed['id']}/resume", json={"input": {"approved": 1}}
            )
            outputs["API resume with bad input"] = answer.text
            assert answer.status_code == 422, answer.text
            answer = client.post(
                f"/v1/runs/{resumed['id']}/resume", json={"input": {"approved": True}}
            )
            assert answer.status_code < 300, answer.text
            done = settle(client, resumed["id"], until=("succeeded", "failed"))
            assert done["status"] == "succeeded", done
            assert done["output"]["answer"] == ANSWER and done["output"]["approved"] is True
            # A tool node's output goes into the state: the CRM's echo of its token is scrubbed.
            assert done["output"]["crm"]["session"] == {"authorization": "Bearer [REDACTED]"}
            answer = client.post(f"/v1/runs/{failed['id']}/resume", json={"input": {}})
            outputs["API resume of a failed run"] = answer.text
            assert answer.status_code >= 400, answer.text
            ids = [failed["id"], retried["id"], resumed["id"]]
            for run_id in ids:
                outputs[f"GET /v1/runs/{run_id}"] = client.get(f"/v1/runs/{run_id}").text
                outputs[f"SSE /v1/runs/{run_id}/events"] = client.get(
                    f"/v1/runs/{run_id}/events", headers={"accept": "text/event-stream"}
                ).text
            outputs["GET /v1/runs"] = client.get("/v1/runs").text
            outputs["gateway /metrics"] = client.get("/metrics").text
        outputs["agent /metrics"] = httpx.get(f"{agent.url}/metrics", timeout=5).text
        outputs["CLI runs show"] = cli("runs", "show", failed["id"], "--store", store_url)
        assert "401" in outputs["CLI runs show"]

        # The secrets were in play: each reached its service, so each could have leaked.
        assert f"Bearer {KEY}" in services.seen.headers("/v1/chat", "authorization")
        assert f"Bearer {ENV}" in services.seen.headers("/crm/", "authorization")
        assert ARG in services.seen.headers("/search", "x-api-key")

        def arrived(spans: list[ReceivedSpan]) -> bool:
            """Every run's last span is in (it ends the run), and the failed call's."""

            def ended(run_id: str, status: str) -> bool:
                return any(s.attributes.get(RUN_STATUS) == status for s in spans_of(spans, run_id))

            failing = [s for s in spans_of(spans, failed["id"]) if s.name.startswith("chat ")]
            return (
                bool(failing)
                and ended(failed["id"], "failed")
                and ended(retried["id"], "succeeded")
                and ended(resumed["id"], "succeeded")
            )

        spans = otlp.wait_for(arrived)
        outputs["spans"] = "\n".join(
            f"{s.service} {s.name} {s.attributes} {s.status_message}" for s in spans
        )
        outputs["run store"] = store = dump(store_url)
    finally:
        gateway.kill(signal.SIGTERM)
    outputs["gateway log"] = gateway.log.read_text(errors="replace")
    outputs["agent log"] = agent.log()
    # The store's own credentials are secrets too: the AWS secret key every process has, and
    # the Postgres password the store URL (given with --store) holds.
    canaries = {**CANARIES, "AWS secret key": os.environ["AWS_SECRET_ACCESS_KEY"]}
    if backend == "postgresql":
        server = request.getfixturevalue("postgres_server")
        outputs["postgres server log"] = server.log.read_text(errors="replace")
        canaries["store password"] = server.password
    if backend == "s3":
        outputs["moto server log"] = request.getfixturevalue("moto_server").log.read_text(
            errors="replace"
        )

    found = leaks(outputs, canaries)
    assert not found, "canaries leaked:\n" + "\n".join(found)
    # The search looked where the secrets went: the scrubbed spots and the store's real content.
    spans_text = outputs["spans"]
    assert '"api_key": "[REDACTED]"' in spans_text, "the tool argument was recorded, scrubbed"
    assert "Bearer [REDACTED]" in spans_text, "the CRM's echo of its token was recorded, scrubbed"
    assert "Bearer ***" in spans_text, "the provider's echo of its key was recorded, scrubbed"
    assert "got Authorization: Bearer " in outputs["agent log"], "the agent logged the echo"
    assert '"level": "debug"' in outputs["agent log"], "debug logging was on"
    assert ANSWER in store and all(run_id in store for run_id in ids), "the dump is the store"
    assert "channel_values" in store, "the dump holds the checkpoints (LangGraph's serde)"
    # The model's call of ``search`` waited in the checkpoint for the engine to make it, its
    # key sealed; the search API got the key all the same (asserted above): unsealed by the agent.
    assert "[REDACTED:SEARCH_KEY:" in store, "the waiting call's arguments are in the store"


def test_canary_checks_catch_a_leak() -> None:
    """The search itself finds each canary in each form it looks for."""
    for canary in CANARIES.values():
        for needle in forms(canary).values():
            assert leaks({"somewhere": f"x{needle}y"}), needle
    assert not leaks({"somewhere": "canary-" + uuid.uuid4().hex})


POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {{name: {name}}}
spec:
  capabilities: [llm]
  replicas: 1
  env:
{env}
"""
FROM_SECRET = "\n".join(
    f"    - {{name: {name}, valueFrom: {{secretKeyRef: {{name: canary, key: {key}}}}}}}"
    for name, key in (
        ("OPENAI_API_KEY", "openai"),
        ("CRM_LOGIN", "crm"),
        ("SEARCH_KEY", "search"),
    )
)


@pytest.mark.cluster
def test_canaries_in_a_secret_stay_out_of_cluster_objects(
    operator: Any, kubectl: Any, namespace: str, tmp_path: Path
) -> None:
    """A pool takes the canaries from a real Secret; the operator's objects, the pool's and the
    Workflow's status and events, its log and metrics hold none of them, and a pool that puts
    one in a literal value is refused without the refusal quoting it."""
    kubectl(
        "create",
        "secret",
        "generic",
        "canary",
        "-n",
        namespace,
        f"--from-literal=openai={KEY}",
        f"--from-literal=crm={ENV}",
        f"--from-literal=search={ARG}",
    )
    kubectl("apply", "-n", namespace, "-f", "-", stdin=POOL.format(name="canary", env=FROM_SECRET))
    workflow = WORKFLOW.format(
        namespace=f", namespace: {namespace}", base_url="http://127.0.0.1:9/v1"
    )
    kubectl("apply", "-f", "-", stdin=workflow)
    outputs: dict[str, str] = {}
    literal = POOL.format(name="literal", env=f"    - {{name: OPENAI_API_KEY, value: {KEY}}}")
    refused = kubectl("apply", "-n", namespace, "-f", "-", stdin=literal, check=False)
    outputs["kubectl apply of a literal key"] = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "looks like a credential" in refused.stderr, refused
    (tmp_path / "literal.yaml").write_text(literal)
    outputs["CLI validate of a literal key"] = cli("validate", str(tmp_path / "literal.yaml"))
    assert "looks like a credential" in outputs["CLI validate of a literal key"]
    for what in ("agentpool/canary", "workflow/canary"):
        kubectl(
            "wait", "--for=condition=Ready", what, "-n", namespace, "--timeout=90s", timeout=100
        )

    kinds = "agentpool,workflow,deployment,replicaset,pod,service,serviceaccount,pdb,endpointslice"
    outputs["objects"] = objects = kubectl("get", kinds, "-n", namespace, "-o", "yaml").stdout
    outputs["events"] = kubectl("get", "events", "-n", namespace, "-o", "yaml").stdout
    outputs["describe"] = kubectl("describe", "agentpool,workflow", "-n", namespace).stdout
    outputs["operator log"] = operator.log_text()
    outputs["operator /metrics"] = operator.metrics()

    found = leaks(outputs)
    assert not found, "canaries leaked:\n" + "\n".join(found)
    # The Secret was in play: it holds the canaries, and the pool's pods take all three from it.
    secret = kubectl("get", "secret", "canary", "-n", namespace, "-o", "yaml").stdout
    assert leaks({"the Secret": secret}), "the Secret holds the canaries"
    assert objects.count("secretKeyRef") >= 6, objects
    # ... and the operator tells them which variables those are, so they scrub them by value.
    deployment = json.loads(kubectl("get", "deployment", "-n", namespace, "-o", "json").stdout)[
        "items"
    ][0]
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    listed = [e.get("value") for e in env if e["name"] == SECRET_ENV]
    assert listed == ["OPENAI_API_KEY,CRM_LOGIN,SEARCH_KEY"], env
