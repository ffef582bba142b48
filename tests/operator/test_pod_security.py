"""Agent pods under the restricted Pod Security profile, made for real: the operator's Deployment
and StatefulSet pools, plain and with every podTemplate field a pool may set, in a namespace that
enforces it. The controllers create the pods (kube-controller-manager runs), so a template the
API server refused would leave the workload without pods and a FailedCreate event naming
PodSecurity. (tests/deploy/test_pod_security.py checks the templates of many more specs.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.operator.conftest import OperatorProcess, eventually
from tests.operator.test_agentpool import get, pool_yaml, wait_ready

pytestmark = pytest.mark.cluster

#: Every podTemplate field (the AgentPool policy may narrow serviceAccountName).
OVERRIDES = """  podTemplate:
    labels: {team: research}
    annotations: {example.com/owner: research}
    nodeSelector: {kubernetes.io/os: linux}
    tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]
    affinity:
      podAntiAffinity:
        preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 1
            podAffinityTerm:
              topologyKey: kubernetes.io/hostname
              labelSelector: {matchLabels: {team: research}}
    serviceAccountName: research
  resources: {limits: {memory: 512Mi}}
"""


def pod_security_events(kubectl: Any, namespace: str) -> list[str]:
    events = get(kubectl, namespace, "events")["items"]
    return [e["message"] for e in events if "PodSecurity" in e.get("message", "")]


def test_the_namespace_refuses_what_the_profile_forbids(kubectl: Any, restricted: str) -> None:
    """The negative control: a Deployment of a privileged pod gets no pod, and says why."""
    kubectl(
        "create",
        "deployment",
        "root",
        "--image=registry.example.com/app:1",
        "-n",
        restricted,
    )
    found = eventually(lambda: pod_security_events(kubectl, restricted), timeout=30)
    assert any('violates PodSecurity "restricted:latest"' in m for m in found), found
    assert not get(kubectl, restricted, "pods")["items"]


@pytest.mark.parametrize("workload", ["Deployment", "StatefulSet"])
@pytest.mark.parametrize("overrides", [False, True], ids=["plain", "podTemplate"])
def test_agent_pods_are_admitted_as_restricted(
    operator: OperatorProcess, kubectl: Any, restricted: str, workload: str, overrides: bool
) -> None:
    if overrides:
        kubectl("create", "serviceaccount", "research", "-n", restricted)
    extra = OVERRIDES if overrides else ""
    kubectl(
        "apply",
        "-n",
        restricted,
        "-f",
        "-",
        stdin=pool_yaml(workload=workload, replicas=2, extra=extra),
    )
    wait_ready(kubectl, restricted, "agentpool/pool")
    pods = get(kubectl, restricted, "pods", "-l", "configurable-agents.io/pool=pool")["items"]
    assert len(pods) == 2
    owner = pods[0]["metadata"]["ownerReferences"][0]["kind"]
    assert owner == ("StatefulSet" if workload == "StatefulSet" else "ReplicaSet")
    spec = pods[0]["spec"]
    if overrides:
        assert spec["serviceAccountName"] == "research"
        assert any(t.get("key") == "gpu" for t in spec["tolerations"])
        assert pods[0]["metadata"]["labels"]["team"] == "research"
    assert not pod_security_events(kubectl, restricted)
