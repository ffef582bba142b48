"""Health as GitOps tools compute it: kstatus (sigs.k8s.io/cli-utils, what Flux and kpt use, built
by hack/build-kstatus.sh) judges our Workflows and AgentPools through their life on the real
control plane, and must agree with the conditions the operator writes at every step.

What our status means, in kstatus' words (DESIGN.md, "API group and kinds"): an object being
deleted is Terminating; one whose generation the operator has not yet observed (just created, or
edited since) is InProgress; after that exactly one condition is True: Stalled (Failed: it will
not get there without a change), Reconciling (InProgress) or Ready (Current). Each verdict is
compared with the object's own status from the read kstatus judged, so any disagreement fails the
test at once, on the way to each stage as well as at it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.kstatus_harness import Kstatus, Verdict
from tests.kstatus_harness import kstatus as kstatus
from tests.operator.conftest import OperatorProcess, eventually

pytestmark = pytest.mark.cluster

API = "configurable-agents.io/v1alpha1"
WORKFLOW = (EXAMPLES / "01-linear-chain" / "workflow.yaml").read_text()
#: Serves the Workflow's capabilities. ``nowhere`` keeps its pods Pending (no node has that
#: label), so it stays progressing until the test lets the pods be scheduled.
POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {{name: {name}}}
spec:
  capabilities: [web-research, llm]
  replicas: 1
{extra}
"""
NOWHERE = "  podTemplate: {nodeSelector: {configurable-agents.io/test-nowhere: 'true'}}\n"
#: Not ours: holds a deleted object in Terminating until the test lets it go.
HOLD = "kstatus.test.configurable-agents.io/hold"


class Disagreement(Exception):
    """kstatus reads our status otherwise than we mean it (not retried by ``eventually``)."""


def ref(kind: str, namespace: str, name: str) -> str:
    group, version = API.split("/")
    return f"{group}/{version}/{kind}/{namespace}/{name}"


def meant(v: Verdict) -> str:
    """The kstatus status our own status means (see the module docstring)."""
    if v.deleting:
        return "Terminating"
    if v.observed_generation is None or v.observed_generation != v.generation:
        return "InProgress"
    true = [c["type"] for c in v.object_conditions if c.get("status") == "True"]
    if len(true) != 1 or {c.get("type") for c in v.object_conditions} != {
        "Ready",
        "Reconciling",
        "Stalled",
    }:
        raise Disagreement(f"{v.object}: not exactly one of our conditions is True: {v}")
    stale = [c for c in v.object_conditions if c.get("observedGeneration") != v.generation]
    if stale:
        raise Disagreement(f"{v.object}: conditions of another generation: {stale}")
    return {"Stalled": "Failed", "Reconciling": "InProgress", "Ready": "Current"}[true[0]]


def agree(kstatus: Kstatus, what: str) -> Verdict:
    """kstatus' verdict on ``what``, which must be what the object's own status means."""
    v = kstatus.one(what)
    if v.status == "NotFound":
        return v
    want = meant(v)
    if v.status != want:
        raise Disagreement(f"{what}: kstatus says {v.status}, our status means {want}: {v}")
    # A verdict drawn from our Stalled or Reconciling condition carries its message.
    if want != "Current" and not v.deleting and v.observed_generation == v.generation:
        [ours] = [c for c in v.object_conditions if c.get("status") == "True"]
        if v.message != ours["message"]:
            raise Disagreement(f"{what}: message {v.message!r}, ours {ours['message']!r}")
    return v


def settle(
    kstatus: Kstatus,
    what: str,
    status: str,
    ours: Callable[[Verdict], Any] = lambda _: True,
    timeout: float = 60,
) -> Verdict:
    """Poll until kstatus says ``status`` and our own status passes ``ours``; every verdict on
    the way must agree with our status."""

    seen: list[Verdict] = []

    def reached() -> Verdict | None:
        seen[:] = [agree(kstatus, what)]
        return seen[0] if seen[0].status == status and ours(seen[0]) else None

    try:
        result: Verdict = eventually(reached, timeout=timeout, interval=0.3)
    except AssertionError:
        raise AssertionError(f"{what}: not {status} within {timeout}s; last: {seen}") from None
    return result


def reason(kind: str, value: str) -> Callable[[Verdict], bool]:
    """Our ``kind`` condition is True with this reason."""

    def check(v: Verdict) -> bool:
        found = v.condition(kind) or {}
        return found.get("status") == "True" and found.get("reason") == value

    return check


def apply(kubectl: Any, namespace: str, text: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=text)


def patch(kubectl: Any, namespace: str, what: str, body: Any, kind: str = "merge") -> None:
    kubectl("patch", what, "-n", namespace, f"--type={kind}", "-p", json.dumps(body))


def test_kstatus_agrees_with_our_conditions_through_a_life(
    operator: OperatorProcess, kstatus: Kstatus, kubectl: Any, namespace: str
) -> None:
    wf, pool = ref("Workflow", namespace, "linear-chain"), ref("AgentPool", namespace, "agents")

    # Created, before the operator has seen them: nothing is known yet, so not Current.
    operator.stop()
    try:
        apply(kubectl, namespace, WORKFLOW)
        apply(kubectl, namespace, POOL.format(name="agents", extra=NOWHERE))
        for what, kind in ((wf, "Workflow"), (pool, "AgentPool")):
            v = agree(kstatus, what)
            assert (v.status, v.generation, v.observed_generation) == ("InProgress", 1, 0)
            assert v.message == f"{kind} generation is 1, but latest observed generation is 0"
    finally:
        operator.start()

    # Progressing: the pool's pod is not ready, so neither is the Workflow that needs it.
    v = settle(kstatus, pool, "InProgress", reason("Reconciling", "ReplicasNotReady"))
    assert v.message == "0/1 replicas ready"
    assert (v.condition("Ready") or {})["status"] == "False"
    v = settle(kstatus, wf, "InProgress", reason("Reconciling", "CapabilitiesUnavailable"))
    assert v.message == "no ready endpoints for llm, web-research"

    # An edit the operator has not seen yet: InProgress on the generation alone.
    operator.stop()
    try:
        patch(kubectl, namespace, "agentpool/agents", {"spec": {"podTemplate": None}})
        v = agree(kstatus, pool)
        assert (v.status, v.generation, v.observed_generation) == ("InProgress", 2, 1)
        assert v.message == "AgentPool generation is 2, but latest observed generation is 1"
        assert reason("Reconciling", "ReplicasNotReady")(v)  # our conditions, not yet rewritten
    finally:
        operator.start()

    # Ready: Current, for the pool and then the Workflow it serves.
    v = settle(kstatus, pool, "Current", reason("Ready", "ReplicasReady"))
    assert v.generation == v.observed_generation == 2
    settle(kstatus, wf, "Current", reason("Ready", "CapabilitiesServed"))

    # Stalled: an edit only the operator can judge (a template naming no state field) is Failed
    # with our message; fixed, Current again.
    apply(kubectl, namespace, WORKFLOW.replace("{{ notes }}", "{{ nots }}"))
    v = settle(kstatus, wf, "Failed", reason("Stalled", "InvalidSpec"))
    assert "spec.nodes[1].prompt: template names 'nots'" in v.message
    assert v.generation == v.observed_generation == 2
    apply(kubectl, namespace, WORKFLOW)
    v = settle(kstatus, wf, "Current", reason("Ready", "CapabilitiesServed"))
    assert v.generation == 3

    # Deleted: Terminating while a finalizer holds it, then NotFound.
    for kind, what in (("workflow/linear-chain", wf), ("agentpool/agents", pool)):
        patch(kubectl, namespace, kind, {"metadata": {"finalizers": [HOLD]}})
        kubectl("delete", kind, "-n", namespace, "--wait=false")
        v = settle(kstatus, what, "Terminating")
        assert v.deleting
        patch(kubectl, namespace, kind, [{"op": "remove", "path": "/metadata/finalizers"}], "json")
        settle(kstatus, what, "NotFound")
        assert kubectl("get", kind, "-n", namespace, check=False).returncode != 0


def test_kstatus_names_objects_it_cannot_judge(
    kstatus: Kstatus, kubectl: Any, namespace: str
) -> None:
    """Missing objects are NotFound, kinds the server does not serve Unknown: never an error."""
    kubectl("create", "configmap", "settings", "-n", namespace)
    missing, unserved, config_map = kstatus(
        ref("Workflow", namespace, "absent"),
        f"example.com/v1/Nothing/{namespace}/x",
        f"/v1/ConfigMap/{namespace}/settings",
    )
    assert missing.status == "NotFound"
    assert unserved.status == "Unknown" and "no kind Nothing" in unserved.message
    assert config_map.status == "Current"  # kstatus' rule for ConfigMaps: always ready


#: A toleration Kubernetes forbids (Exists takes no value): the API server refuses the Deployment
#: with a 422. A CPU limit that is no quantity: it would refuse it with a 500, so the spec models
#: check quantities themselves.
REFUSED = [
    (
        "  podTemplate: {tolerations: [{key: dedicated, operator: Exists, value: agents}]}\n",
        {"spec": {"podTemplate": None}},
        "spec: the API server refuses the Deployment agents built from it: ",
        "spec.template.spec.tolerations[0].operator",
    ),
    (
        "  resources: {limits: {cpu: lots}}\n",
        {"spec": {"resources": None}},
        "invalid spec: ",
        "spec.resources.limits.cpu: 'lots' is not a Kubernetes quantity",
    ),
]


@pytest.mark.expected_errors(r"Handler 'pool_created' failed permanently: spec")
@pytest.mark.parametrize(("extra", "fix", "start", "phrase"), REFUSED, ids=["422", "quantity"])
def test_a_pool_whose_workload_kubernetes_refuses_is_stalled(
    operator: OperatorProcess,
    kstatus: Kstatus,
    kubectl: Any,
    namespace: str,
    extra: str,
    fix: dict[str, Any],
    start: str,
    phrase: str,
) -> None:
    """The CRD keeps tolerations and resources free-form, so a pool Kubernetes would not run is
    admitted: that will not change without an edit, so Stalled (kstatus: Failed) rather than
    Reconciling (or unobserved) for ever; fixed, Current."""
    pool = ref("AgentPool", namespace, "agents")
    apply(kubectl, namespace, POOL.format(name="agents", extra=extra))
    v = settle(kstatus, pool, "Failed", reason("Stalled", "InvalidSpec"))
    assert v.message.startswith(start) and phrase in v.message, v.message
    assert (v.condition("Ready") or {})["status"] == "False"
    patch(kubectl, namespace, "agentpool/agents", fix)
    v = settle(kstatus, pool, "Current", reason("Ready", "ReplicasReady"))
    assert v.generation == 2
