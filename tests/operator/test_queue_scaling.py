"""Scaling on the queue with KEDA on the real control plane: a pool at zero, runs submitted to
the gateway wait ``queued``, KEDA (polling the gateway's queue route with a token that may only
read it) wakes the pool, its HPA (through KEDA's metrics API server and API aggregation) takes it
further, the runs finish on the pool's agents, and after the cool-down the pool is back at zero.

kwok's pods run nothing: the gateway's documented test seam maps every agent pod address
(``*:8080``) to one agent process on loopback; everything else is the production path.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.harness import AgentProcess
from tests.conftest import REPO
from tests.keda_harness import NAMESPACE as KEDA_NAMESPACE
from tests.keda_harness import Keda, keda  # noqa: F401  (the session fixture)
from tests.operator.conftest import OperatorProcess, restart_with
from tests.processes import start_cluster_gateway, stop

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PREFIX = "CONFIGURABLE_AGENTS_OPERATOR_"
AUTHENTICATION = "configurable-agents-queue-reader"
RUNS = 3
MAX_REPLICAS = 3

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: think}
spec:
  state: {topic: {type: string}, answer: {type: string}}
  input: [topic]
  output: [answer]
  models: {default: {provider: scripted, responses: ["done"], delay: 45s}}
  nodes:
    - {name: think, type: llm, prompt: "{{ topic }}", output: answer}
  edges:
    - {from: START, to: think}
    - {from: think, to: END}
"""

POOL = f"""
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {{name: thinkers}}
spec:
  capabilities: [llm]
  maxConcurrentTasks: 4
  autoscaling:
    metric: queue
    minReplicas: 0
    maxReplicas: {MAX_REPLICAS}
    queue: {{targetPerReplica: 1, cooldownSeconds: 5}}
"""


def _json(kubectl: Any, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl(*args, "-o", "json").stdout)
    return result


def _replicas(kubectl: Any, namespace: str) -> tuple[int, int]:
    """(spec.replicas, status.readyReplicas) of the pool's Deployment."""
    deployment = _json(kubectl, "get", "deployment", "thinkers", "-n", namespace)
    return (
        int(deployment["spec"].get("replicas") or 0),
        int(deployment.get("status", {}).get("readyReplicas") or 0),
    )


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        time.sleep(0.5)


@pytest.fixture
def queue_reader(kubectl: Any, keda: Keda) -> Iterator[str]:  # noqa: F811
    """KEDA's credentials for the gateway: an account bound to the shipped queue-reader role
    (``get`` on agentpools/queue only), its token in a Secret in KEDA's namespace, and the
    ClusterTriggerAuthentication the operator's ScaledObjects name."""
    account = f"queue-reader-{uuid.uuid4().hex[:6]}"
    kubectl("apply", "-f", str(REPO / "manifests" / "rbac" / "queue-reader.yaml"))
    kubectl("create", "serviceaccount", account, "-n", KEDA_NAMESPACE)
    kubectl("create", "clusterrolebinding", account,
            "--clusterrole=configurable-agents-queue-reader",
            f"--serviceaccount={KEDA_NAMESPACE}:{account}")  # fmt: skip
    token = kubectl("create", "token", account, "-n", KEDA_NAMESPACE, "--duration=2h").stdout
    kubectl("create", "secret", "generic", account, "-n", KEDA_NAMESPACE,
            f"--from-literal=token={token.strip()}")  # fmt: skip
    kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ClusterTriggerAuthentication",
        "metadata": {"name": AUTHENTICATION},
        "spec": {"secretTargetRef": [{"parameter": "token", "name": account, "key": "token"}]},
    }))  # fmt: skip
    try:
        yield token.strip()
    finally:
        kubectl("delete", "clusterrolebinding", account, check=False)
        kubectl("delete", "serviceaccount", account, "-n", KEDA_NAMESPACE, check=False)
        kubectl("delete", "secret", account, "-n", KEDA_NAMESPACE, check=False)


@pytest.fixture
def runner_token(kubectl: Any, namespace: str) -> Iterator[str]:
    """A caller who may start and read runs in the test's namespace."""
    kubectl("create", "serviceaccount", "runner", "-n", namespace)
    binding = f"{namespace}-runner"
    kubectl("create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:runner")  # fmt: skip
    try:
        yield kubectl("create", "token", "runner", "-n", namespace, "--duration=2h").stdout.strip()
    finally:
        kubectl("delete", "clusterrolebinding", binding, check=False)


@pytest.mark.timeout(600)
def test_a_pool_at_zero_wakes_for_queued_runs_and_goes_back_to_zero(
    keda: Keda,  # noqa: F811
    operator: OperatorProcess,
    queue_reader: str,
    runner_token: str,
    kubectl: Any,
    kubeconfig: str,
    namespace: str,
    tmp_path: Path,
) -> None:
    agent = AgentProcess(tmp_path, name="agent", capabilities=("llm",), max_concurrent_tasks=8)
    agent.wait_ready()
    gateway, url, _ = start_cluster_gateway(
        tmp_path,
        kubeconfig,
        "--namespace",
        namespace,
        "--auth",
        "kubernetes",
        env={"CONFIGURABLE_AGENTS_ENDPOINT_MAP": f"*:8080={agent.url.removeprefix('http://')}"},
    )
    try:
        restart_with(
            operator,
            PREFIX,
            {
                "QUEUE_SCALER": "keda",
                "QUEUE_GATEWAY_URL": url,
                "QUEUE_POLLING_SECONDS": "1",
                "QUEUE_AUTHENTICATION": AUTHENTICATION,
            },
        )
        kubectl("apply", "-n", namespace, "-f", "-", stdin=WORKFLOW)
        kubectl("apply", "-n", namespace, "-f", "-", stdin=POOL)

        # The operator renders the ScaledObject, owned by the pool; KEDA reads it and, with
        # nothing queued, keeps the pool at zero.
        scaled = _wait(
            lambda: (
                kubectl(
                    "get", "scaledobject", "thinkers", "-n", namespace, "-o", "json", check=False
                ).stdout
            ),
            60,
            "the ScaledObject",
        )
        scaled = json.loads(scaled)
        assert scaled["metadata"]["ownerReferences"][0]["kind"] == "AgentPool"
        trigger = scaled["spec"]["triggers"][0]
        assert trigger["metadata"]["url"] == f"{url}/v1/namespaces/{namespace}/queue?capability=llm"
        _wait(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in _json(kubectl, "get", "scaledobject", "thinkers", "-n", namespace)
                .get("status", {})
                .get("conditions", [])
            ),
            90,
            "the ScaledObject Ready (KEDA reads the gateway with its token)",
        )
        _wait(lambda: _replicas(kubectl, namespace) == (0, 0), 90, "the pool at zero")
        assert (
            "HorizontalPodAutoscaler" in kubectl("get", "hpa", "-n", namespace, "-o", "json").stdout
        )  # KEDA's own, for 1 <-> N

        headers = {"Authorization": f"Bearer {runner_token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            # KEDA's token reads the figures and nothing else
            reader = {"Authorization": f"Bearer {queue_reader}"}
            assert client.get(f"/v1/namespaces/{namespace}/queue", params={"capability": "llm"},
                              headers=reader).status_code == 200  # fmt: skip
            assert client.get("/v1/runs", headers=reader).status_code in (200, 403)
            listed = client.get("/v1/runs", headers=reader)
            assert listed.status_code == 403 or listed.json()["items"] == []

            _wait(
                lambda: any(
                    w["name"] == "think" for w in client.get("/v1/workflows").json()["items"]
                ),
                30,
                "the gateway serving the Workflow",
            )
            ids = []
            for i in range(RUNS):
                started = client.post(
                    f"/v1/workflows/{namespace}/think/runs", json={"input": {"topic": f"t{i}"}}
                )
                assert started.status_code == 202, started.text
                ids.append(started.json()["id"])

            # While the pool is at zero the runs wait queued, counted under their capability:
            # the figure KEDA reads, and what wakes the pool.
            queued = _wait(
                lambda: client.get(
                    f"/v1/namespaces/{namespace}/queue", params={"capability": "llm"}
                ).json()["queued"],
                20,
                "the runs counted queued for llm",
            )
            assert queued >= 1
            assert any(client.get(f"/v1/runs/{i}").json().get("waitingFor") == "llm" for i in ids)

            # KEDA wakes the pool; its HPA takes it past one replica on the figures.
            peak = 0
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                replicas, _ = _replicas(kubectl, namespace)
                peak = max(peak, replicas)
                statuses = [client.get(f"/v1/runs/{i}").json()["status"] for i in ids]
                if peak >= 2 and all(s == "succeeded" for s in statuses):
                    break
                time.sleep(1)
            statuses = [client.get(f"/v1/runs/{i}").json() for i in ids]
            assert [r["status"] for r in statuses] == ["succeeded"] * RUNS, statuses
            assert all(r["output"]["answer"] == "done" for r in statuses)
            assert peak >= 2, f"the HPA never took the pool past {peak} replica(s)"
            assert peak <= MAX_REPLICAS
            assert agent.tasks_done() == RUNS

            # Nothing left: after the cool-down KEDA takes the pool back to zero.
            _wait(
                lambda: (
                    client.get(
                        f"/v1/namespaces/{namespace}/queue", params={"capability": "llm"}
                    ).json()["total"]
                    == 0
                ),
                10,
                "the figures at zero (they are kept a second)",
            )
        _wait(lambda: _replicas(kubectl, namespace)[0] == 0, 90, "the pool back at zero")
    finally:
        stop(gateway, signal.SIGTERM)
        agent.stop()
        kubectl("delete", "agentpool", "thinkers", "-n", namespace, "--wait=false", check=False)
        restart_with(operator, PREFIX, {})


def test_zero_replicas_on_cpu_is_refused_at_admission(kubectl: Any, namespace: str) -> None:
    bad = POOL.replace("metric: queue", "metric: cpu").replace(
        "    queue: {targetPerReplica: 1, cooldownSeconds: 5}\n", ""
    )
    refused = kubectl("apply", "-n", namespace, "-f", "-", stdin=bad, check=False)
    assert refused.returncode != 0
    assert "spec.autoscaling.minReplicas" in refused.stderr
    assert "0 needs metric: queue" in refused.stderr


def _stalled_message(kubectl: Any, namespace: str) -> str:
    pool = _json(kubectl, "get", "agentpool", "thinkers", "-n", namespace)
    for condition in pool.get("status", {}).get("conditions", []):
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return str(condition["message"])
    return ""


@pytest.mark.expected_errors(r"Handler '\w+' failed permanently: spec\.autoscaling\.metric")
@pytest.mark.timeout(400)
def test_without_keda_an_hpa_on_the_external_metric_and_a_missing_gateway_url_stalls(
    keda: Keda,  # noqa: F811  (its CRDs: the ScaledObjects of the later steps)
    operator: OperatorProcess,
    kubectl: Any,
    namespace: str,
) -> None:
    try:
        # The fallback: an HPA on the External metric, never below one replica.
        restart_with(operator, PREFIX, {"QUEUE_SCALER": "hpa"})
        kubectl("apply", "-n", namespace, "-f", "-", stdin=POOL)
        hpa = json.loads(
            _wait(
                lambda: (
                    kubectl(
                        "get", "hpa", "thinkers", "-n", namespace, "-o", "json", check=False
                    ).stdout
                ),
                60,
                "the fallback HPA",
            )
        )
        assert hpa["spec"]["minReplicas"] == 1
        assert hpa["spec"]["maxReplicas"] == MAX_REPLICAS
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "External"
        assert metric["external"]["metric"]["name"] == "configurable_agents_capability_runs"
        assert metric["external"]["target"] == {"type": "AverageValue", "averageValue": "1"}
        assert kubectl("get", "scaledobject", "-n", namespace, "-o", "name").stdout == ""

        # KEDA chosen but no gateway URL to read: the pool is Stalled, naming the field and the
        # setting; its fallback HPA is pruned (the pool's spec wants a ScaledObject now).
        restart_with(operator, PREFIX, {"QUEUE_SCALER": "keda"})
        message = _wait(lambda: _stalled_message(kubectl, namespace), 60, "the pool Stalled")
        assert "spec.autoscaling.metric" in message
        assert "CONFIGURABLE_AGENTS_OPERATOR_QUEUE_GATEWAY_URL" in message

        # With the URL, and KEDA found in discovery (``auto``, the default), the ScaledObject is
        # made and the HPA the operator made is gone. KEDA is running and polls what the URL
        # names: a loopback port nobody serves, never a name to resolve.
        restart_with(operator, PREFIX, {"QUEUE_GATEWAY_URL": "http://127.0.0.1:9"})
        _wait(
            lambda: (
                kubectl("get", "scaledobject", "thinkers", "-n", namespace, check=False).returncode
                == 0
            ),
            60,
            "the ScaledObject",
        )
        _wait(
            lambda: kubectl("get", "hpa", "thinkers", "-n", namespace, check=False).returncode != 0,
            60,
            "the operator's HPA pruned",
        )
        assert not _stalled_message(kubectl, namespace)
        # Back to CPU: the ScaledObject is pruned and a CPU HPA owns the count.
        kubectl("patch", "agentpool", "thinkers", "-n", namespace, "--type=json", "-p",
                '[{"op": "replace", "path": "/spec/autoscaling", "value": {"minReplicas": 1, "maxReplicas": 2}}]')  # fmt: skip
        _wait(
            lambda: (
                kubectl("get", "scaledobject", "thinkers", "-n", namespace, check=False).returncode
                != 0
            ),
            60,
            "the ScaledObject pruned",
        )
        cpu = json.loads(
            _wait(
                lambda: (
                    kubectl(
                        "get", "hpa", "thinkers", "-n", namespace, "-o", "json", check=False
                    ).stdout
                ),
                60,
                "the CPU HPA",
            )
        )
        assert cpu["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    finally:
        kubectl("delete", "agentpool", "thinkers", "-n", namespace, "--wait=false", check=False)
        restart_with(operator, PREFIX, {})


def test_the_charts_keda_objects_are_admitted_and_its_token_reads_the_queue(
    keda: Keda,  # noqa: F811  (its CRDs)
    kubectl: Any,
    tmp_path: Path,
) -> None:
    """The chart's queueScaling.keda.authentication objects, applied server-side against KEDA's
    CRDs: the account's token Secret is filled in, and the role bound to it may get
    agentpools/queue and nothing about runs."""
    from tests.deploy.tools import render

    release = f"q{uuid.uuid4().hex[:6]}"
    docs = render(
        tmp_path,
        {"queueScaling": {"keda": {"authentication": True, "authenticationName": release}}},
        release=release,
        namespace="ca-system",
    )
    wanted = {"ServiceAccount", "Secret", "ClusterRole", "ClusterRoleBinding"}
    ours = [
        d
        for d in docs
        if d["kind"] == "ClusterTriggerAuthentication"
        or (d["kind"] in wanted and d["metadata"]["name"].endswith("queue-reader"))
        or (d["kind"] == "Secret" and d["metadata"]["name"].endswith("queue-reader-token"))
    ]
    assert sorted(d["kind"] for d in ours) == sorted([*wanted, "ClusterTriggerAuthentication"])
    stdin = "\n---\n".join(json.dumps(d) for d in ours)
    kubectl("apply", "--server-side", "-f", "-", stdin=stdin)
    account = next(d for d in ours if d["kind"] == "ServiceAccount")["metadata"]["name"]
    try:
        subject = f"system:serviceaccount:{KEDA_NAMESPACE}:{account}"

        def can(resource: str, subresource: str = "") -> str:
            asked = kubectl("auth", "can-i", "get", resource, "--as", subject, "-n", "anywhere",
                            *([f"--subresource={subresource}"] if subresource else []),
                            check=False)  # fmt: skip
            return str(asked.stdout.strip())

        assert can("agentpools.configurable-agents.io", "queue") == "yes"
        assert can("workflows.configurable-agents.io", "runs") == "no"
        assert can("agentpools.configurable-agents.io") == "no"
        assert can("secrets") == "no"
        token = _wait(
            lambda: (
                _json(kubectl, "get", "secret", f"{account}-token", "-n", KEDA_NAMESPACE)
                .get("data", {})
                .get("token")
            ),
            30,
            "the token Secret filled in",
        )
        assert token
        cta = _json(kubectl, "get", "clustertriggerauthentication", release)
        assert cta["spec"]["secretTargetRef"] == [
            {"parameter": "token", "name": f"{account}-token", "key": "token"}
        ]
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", stdin=stdin, check=False)
