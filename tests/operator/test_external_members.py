"""External members of an AgentPool, as the operator counts them (real control plane, the
operator as its ServiceAccount): the gateway's member Leases, written here exactly as the gateway
writes them (``lease_of``), move the pool's ``status.externalMembers``, its ``kubectl get agp``
column, and the Ready condition of a Workflow whose capability only external members serve."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agent_runtime.gateway.members import Member, lease_of
from tests.operator.conftest import OperatorProcess, eventually
from tests.operator.test_agentpool import get
from tests.operator.test_workflow import condition

pytestmark = pytest.mark.cluster

POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: remote}
spec:
  capabilities: [outside]
  replicas: 0
  external: {enabled: true, maxMembers: 2}
"""

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: far}
spec:
  state: {topic: {type: string}, draft: {type: string}}
  input: [topic]
  output: [draft]
  models: {default: {provider: scripted}}
  nodes:
    - {name: write, type: llm, capability: outside, prompt: "on {{ topic }}", output: draft}
  edges:
    - {from: START, to: write}
    - {from: write, to: END}
"""


def lease(namespace: str, name: str, *, ttl: float = 300) -> str:
    member = Member(
        namespace=namespace,
        pool="remote",
        name=name,
        capabilities=frozenset({"outside"}),
        address=None,
        holder="system:serviceaccount:x:agent",
        ttl=ttl,
        renewed=time.time(),
    )
    return json.dumps(lease_of(member))


def test_external_members_count_in_pool_status_column_and_workflow_ready(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=POOL)
    kubectl("apply", "-n", namespace, "-f", "-", stdin=WORKFLOW)

    def workflow() -> dict[str, Any]:
        return get(kubectl, namespace, "workflow", "far")

    def external() -> int:
        return int(get(kubectl, namespace, "agentpool", "remote")["status"]["externalMembers"])

    eventually(lambda: condition(workflow(), "Ready")["status"] == "False", timeout=60)
    assert "no ready endpoints for outside" in condition(workflow(), "Ready")["message"]
    assert external() == 0

    # two agents register: the pool counts them, the Workflow is Ready on them alone
    kubectl("apply", "-f", "-", stdin=lease(namespace, "laptop"))
    kubectl("apply", "-f", "-", stdin=lease(namespace, "edge"))
    eventually(lambda: external() == 2, timeout=30)
    eventually(lambda: condition(workflow(), "Ready")["status"] == "True", timeout=30)
    served = workflow()["status"]["capabilities"]["outside"]
    assert served == {"pools": ["remote"], "readyEndpoints": 0, "externalMembers": 2}
    column = kubectl(
        "get",
        "agp",
        "remote",
        "-n",
        namespace,
        "--no-headers",
        "-o",
        "custom-columns=EXTERNAL:.status.externalMembers",
    ).stdout.split()
    assert column == ["2"]
    printed = kubectl("get", "agp", "-n", namespace).stdout.splitlines()
    header = printed[0].split()
    assert "EXTERNAL" in header
    assert printed[1].split()[header.index("EXTERNAL")] == "2"

    # one lapsed and swept (the gateway deletes a lapsed member's Lease), then the other left
    kubectl("delete", "lease", "external.remote.laptop", "-n", namespace)
    eventually(lambda: external() == 1, timeout=30)
    assert condition(workflow(), "Ready")["status"] == "True"
    kubectl("delete", "lease", "external.remote.edge", "-n", namespace)
    eventually(lambda: external() == 0, timeout=30)
    eventually(lambda: condition(workflow(), "Ready")["status"] == "False", timeout=30)

    # a member that lapses with no gateway to delete its Lease: the pool's timer recounts
    kubectl("apply", "-f", "-", stdin=lease(namespace, "stale", ttl=3))
    eventually(lambda: external() == 1, timeout=30)
    eventually(lambda: condition(workflow(), "Ready")["status"] == "True", timeout=30)
    started = time.monotonic()
    eventually(lambda: external() == 0, timeout=30)
    assert time.monotonic() - started < 3 + 10  # its TTL, then a recount (every 5 s)
    eventually(lambda: condition(workflow(), "Ready")["status"] == "False", timeout=30)
