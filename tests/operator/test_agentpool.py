"""AgentPool against the real control plane: children, drift repair, scale, HPA, cascade, restart."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.operator.conftest import OperatorProcess, eventually

pytestmark = pytest.mark.cluster

POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {{name: {name}}}
spec:
  capabilities: [web-research, summarize]
  workload: {workload}
  replicas: {replicas}
  maxConcurrentTasks: 4
{extra}
"""


def pool_yaml(
    name: str = "pool", *, workload: str = "Deployment", replicas: int = 2, extra: str = ""
) -> str:
    return POOL.format(name=name, workload=workload, replicas=replicas, extra=extra)


def get(kubectl: Any, namespace: str, *what: str) -> dict[str, Any]:
    return json.loads(kubectl("get", *what, "-n", namespace, "-o", "json").stdout)


def wait_ready(kubectl: Any, namespace: str, what: str, timeout: int = 60) -> None:
    kubectl(
        "wait",
        "--for=condition=Ready",
        what,
        "-n",
        namespace,
        f"--timeout={timeout}s",
        timeout=timeout + 10,
    )


def test_pool_becomes_ready_with_its_children(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    pool = get(kubectl, namespace, "agentpool", "pool")
    assert pool["status"]["readyReplicas"] == 2
    assert pool["status"]["selector"] == "configurable-agents.io/pool=pool"
    assert pool["status"]["observedGeneration"] == pool["metadata"]["generation"]
    uid = pool["metadata"]["uid"]

    deployment = get(kubectl, namespace, "deployment", "pool")
    template = deployment["spec"]["template"]
    labels = template["metadata"]["labels"]
    assert labels["configurable-agents.io/pool"] == "pool"
    assert labels["capability.configurable-agents.io/web-research"] == "true"
    assert labels["capability.configurable-agents.io/summarize"] == "true"
    container = template["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert "--max-concurrent-tasks" in container["args"] and "4" in container["args"]
    assert container["securityContext"]["runAsNonRoot"] is True
    assert template["spec"]["automountServiceAccountToken"] is False
    for kind in ("deployment", "service", "poddisruptionbudget", "serviceaccount/pool-agent"):
        obj = (
            get(kubectl, namespace, *kind.split("/"))
            if "/" in kind
            else get(kubectl, namespace, kind, "pool")
        )
        [ref] = obj["metadata"]["ownerReferences"]
        assert ref["uid"] == uid and ref["controller"] is True and ref["kind"] == "AgentPool"

    def slices() -> list[dict[str, Any]]:
        found = get(kubectl, namespace, "endpointslices", "-l", "kubernetes.io/service-name=pool")
        assert sum(len(s.get("endpoints") or []) for s in found["items"]) == 2
        return list(found["items"])

    slices = eventually(slices)
    assert slices[0]["metadata"]["labels"]["capability.configurable-agents.io/summarize"] == "true"


def test_drift_is_repaired(operator: OperatorProcess, kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    service_uid = get(kubectl, namespace, "service", "pool")["metadata"]["uid"]
    kubectl("scale", "deployment/pool", "--replicas=5", "-n", namespace)
    kubectl("delete", "service", "pool", "-n", namespace)
    kubectl(
        "label",
        "deployment/pool",
        "configurable-agents.io/pool=hijacked",
        "--overwrite",
        "-n",
        namespace,
    )
    eventually(lambda: get(kubectl, namespace, "deployment", "pool")["spec"]["replicas"] == 2)
    eventually(
        lambda: (
            get(kubectl, namespace, "deployment", "pool")["metadata"]["labels"][
                "configurable-agents.io/pool"
            ]
            == "pool"
        )
    )
    recreated = eventually(lambda: get(kubectl, namespace, "service", "pool"))
    assert recreated["metadata"]["uid"] != service_uid


def test_spec_changes_reach_the_children(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    kubectl(
        "patch",
        "agentpool",
        "pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps(
            {"spec": {"capabilities": ["summarize", "translate"], "maxConcurrentTasks": 16}}
        ),
    )

    def updated() -> bool:
        template = get(kubectl, namespace, "deployment", "pool")["spec"]["template"]
        labels = template["metadata"]["labels"]
        return (
            "capability.configurable-agents.io/translate" in labels
            and "capability.configurable-agents.io/web-research" not in labels
            and "16" in template["spec"]["containers"][0]["args"]
        )

    eventually(updated)
    wait_ready(kubectl, namespace, "agentpool/pool")


def test_scale_subresource(operator: OperatorProcess, kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    kubectl("scale", "agentpool/pool", "--replicas=3", "-n", namespace)
    eventually(lambda: get(kubectl, namespace, "deployment", "pool")["spec"]["replicas"] == 3)
    eventually(
        lambda: get(kubectl, namespace, "agentpool", "pool")["status"].get("readyReplicas") == 3
    )
    wait_ready(kubectl, namespace, "agentpool/pool")
    scale = json.loads(
        kubectl(
            "get",
            "--raw",
            f"/apis/configurable-agents.io/v1alpha1/namespaces/{namespace}/agentpools/pool/scale",
        ).stdout
    )
    assert scale["spec"]["replicas"] == 3 and scale["status"]["replicas"] == 3
    assert scale["status"]["selector"] == "configurable-agents.io/pool=pool"


def test_with_autoscaling_the_hpa_owns_replicas(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    extra = "  autoscaling: {minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 60}"
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=extra))
    hpa = eventually(lambda: get(kubectl, namespace, "horizontalpodautoscaler", "pool"))
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "pool",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    # What the HPA (here: a person standing in for it) sets is never taken back.
    kubectl("scale", "deployment/pool", "--replicas=4", "-n", namespace)
    kubectl("annotate", "agentpool/pool", "touch=1", "-n", namespace)
    kubectl(
        "patch",
        "agentpool",
        "pool",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec": {"maxConcurrentTasks": 5}}',
    )
    eventually(
        lambda: (
            "5"
            in get(kubectl, namespace, "deployment", "pool")["spec"]["template"]["spec"][
                "containers"
            ][0]["args"]
        )
    )
    deployment = get(kubectl, namespace, "deployment", "pool", "--show-managed-fields")
    assert deployment["spec"]["replicas"] == 4
    ours = [
        m
        for m in deployment["metadata"]["managedFields"]
        if m["manager"] == "configurable-agents-operator"
    ]
    assert ours and all(
        "f:replicas" not in json.dumps(m.get("fieldsV1", {}).get("f:spec", {})) for m in ours
    )
    # Unsetting autoscaling removes the HPA and gives the count back to the operator.
    kubectl(
        "patch",
        "agentpool",
        "pool",
        "-n",
        namespace,
        "--type=json",
        "-p",
        '[{"op": "remove", "path": "/spec/autoscaling"}]',
    )
    eventually(lambda: kubectl("get", "hpa", "pool", "-n", namespace, check=False).returncode != 0)
    eventually(lambda: get(kubectl, namespace, "deployment", "pool")["spec"]["replicas"] == 2)


def test_statefulset_pool_has_a_headless_service(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(workload="StatefulSet"))
    wait_ready(kubectl, namespace, "agentpool/pool")
    sts = get(kubectl, namespace, "statefulset", "pool")
    assert sts["spec"]["serviceName"] == "pool-headless"
    assert get(kubectl, namespace, "service", "pool-headless")["spec"]["clusterIP"] == "None"
    assert kubectl("get", "deployment", "pool", "-n", namespace, check=False).returncode != 0


def test_deleting_the_pool_deletes_its_children(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    kubectl("delete", "agentpool", "pool", "-n", namespace, "--timeout=30s")
    for kind in ("deployment", "service", "poddisruptionbudget", "serviceaccount/pool-agent"):
        args = kind.split("/") if "/" in kind else [kind, "pool"]
        eventually(
            lambda args=args: kubectl("get", *args, "-n", namespace, check=False).returncode != 0,
            timeout=60,
        )


def test_restart_creates_no_duplicates(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")

    def children() -> set[str]:
        kinds = "deployments,services,pdb,serviceaccounts"
        found = get(kubectl, namespace, kinds, "-l", "configurable-agents.io/pool=pool")
        return {item["metadata"]["uid"] for item in found["items"]}

    before = children()
    operator.restart()
    wait_ready(kubectl, namespace, "agentpool/pool")
    after = children()
    assert after == before
    assert len(get(kubectl, namespace, "replicasets")["items"]) == 1


def test_the_operator_writes_a_pool_only_through_its_status(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    """kopf keeps what it handled in memory: no annotation of its own, no PATCH of the pool."""
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    pool = get(kubectl, namespace, "agentpool", "pool", "--show-managed-fields")
    annotations = pool["metadata"].get("annotations") or {}
    assert not [k for k in annotations if k.startswith("configurable-agents.io/")], annotations
    ours = [
        (m.get("subresource", ""), m["operation"])
        for m in pool["metadata"]["managedFields"]
        if not m["manager"].startswith("kubectl")
    ]
    assert ours and all(subresource == "status" for subresource, _ in ours), ours


def test_a_change_made_while_the_operator_was_down_is_pruned_after(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    """A restarted operator sees every pool as new: one it reconciled before is pruned."""
    extra = "  autoscaling: {minReplicas: 2, maxReplicas: 6, targetCPUUtilizationPercentage: 60}"
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=extra))
    eventually(lambda: get(kubectl, namespace, "horizontalpodautoscaler", "pool"))
    wait_ready(kubectl, namespace, "agentpool/pool")
    operator.stop()
    try:
        kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    finally:
        operator.start()
    eventually(lambda: kubectl("get", "hpa", "pool", "-n", namespace, check=False).returncode != 0)
    wait_ready(kubectl, namespace, "agentpool/pool")


def test_every_example_pool_becomes_ready(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    for path in sorted(EXAMPLES.glob("*/agentpool.yaml")):
        kubectl("apply", "-n", namespace, "-f", str(path))
    names = [i["metadata"]["name"] for i in get(kubectl, namespace, "agentpools")["items"]]
    assert len(names) == len(list(EXAMPLES.glob("*/agentpool.yaml")))
    for name in names:
        wait_ready(kubectl, namespace, f"agentpool/{name}")


def test_operator_metrics(operator: OperatorProcess, kubectl: Any, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    wait_ready(kubectl, namespace, "agentpool/pool")
    text = operator.metrics()
    assert (
        'configurable_agents_operator_reconciles_total{kind="AgentPool",outcome="success"}' in text
    )
    assert "configurable_agents_operator_reconcile_duration_seconds_bucket" in text


def test_a_literal_credential_is_refused_at_admission(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    extra = "  env: [{name: OPENAI_API_KEY, value: sk-live-literal}]"
    done = kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=extra), check=False)
    assert done.returncode != 0
    assert "spec.env[0].value" in done.stderr and "secretKeyRef" in done.stderr
    assert "sk-live-literal" not in done.stderr
    assert kubectl("get", "agentpool", "pool", "-n", namespace, check=False).returncode != 0
