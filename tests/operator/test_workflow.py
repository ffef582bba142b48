"""Workflow against the real control plane: admission, Stalled, capabilities and readiness."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.operator.conftest import OperatorProcess, eventually
from tests.operator.test_agentpool import get, pool_yaml, wait_ready

pytestmark = pytest.mark.cluster

LINEAR = EXAMPLES / "01-linear-chain"


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    for found in obj.get("status", {}).get("conditions", []):
        if found["type"] == kind:
            return dict(found)
    raise KeyError(f"no {kind} condition yet")  # eventually() waits on KeyError


def test_every_example_workflow_becomes_ready(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    for folder in sorted(p.parent for p in EXAMPLES.glob("*/workflow.yaml")):
        kubectl("apply", "-n", namespace, "-f", str(folder))
    workflows = [i["metadata"]["name"] for i in get(kubectl, namespace, "workflows")["items"]]
    assert len(workflows) == len(list(EXAMPLES.glob("*/workflow.yaml")))
    for name in workflows:
        wait_ready(kubectl, namespace, f"workflow/{name}", timeout=90)
    # Ready needs one endpoint per capability; the count reaches all four pods a little later
    want = {"pools": ["researchers", "searchers"], "readyEndpoints": 4, "externalMembers": 0}
    eventually(
        lambda: (
            get(kubectl, namespace, "workflow", "linear-chain")["status"]["capabilities"][
                "web-research"
            ]
            == want
        ),
        timeout=60,
    )
    linear = get(kubectl, namespace, "workflow", "linear-chain")
    assert linear["status"]["graph"].startswith("flowchart TD")
    assert condition(linear, "Stalled")["status"] == "False"
    assert linear["status"]["observedGeneration"] == linear["metadata"]["generation"]


def test_readiness_follows_the_pods(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(LINEAR))
    wait_ready(kubectl, namespace, "workflow/linear-chain")
    started = time.monotonic()
    kubectl("scale", "agentpool/researchers", "--replicas=0", "-n", namespace)

    def not_ready() -> bool:
        wf = get(kubectl, namespace, "workflow", "linear-chain")
        return (
            condition(wf, "Ready")["status"] == "False"
            and condition(wf, "Reconciling")["status"] == "True"
        )

    eventually(not_ready, timeout=20)
    took = time.monotonic() - started
    wf = get(kubectl, namespace, "workflow", "linear-chain")
    assert condition(wf, "Ready")["reason"] == "CapabilitiesUnavailable"
    assert "no ready endpoints for" in condition(wf, "Ready")["message"]
    assert took < 15
    kubectl("scale", "agentpool/researchers", "--replicas=1", "-n", namespace)
    wait_ready(kubectl, namespace, "workflow/linear-chain")


def test_a_missing_pool_keeps_the_workflow_progressing(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(LINEAR / "workflow.yaml"))

    def waiting() -> bool:
        wf = get(kubectl, namespace, "workflow", "linear-chain")
        ready = condition(wf, "Ready")
        return (
            ready["status"] == "False"
            and "no AgentPool serves llm, web-research" in ready["message"]
        )

    eventually(waiting)
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=pool_yaml("extra").replace("[web-research, summarize]", "[llm]"),
    )
    eventually(
        lambda: (
            "no AgentPool serves web-research"
            in condition(get(kubectl, namespace, "workflow", "linear-chain"), "Ready")["message"]
        )
    )


def test_invalid_workflow_is_refused_at_admission(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    text = (
        (LINEAR / "workflow.yaml")
        .read_text()
        .replace("type: llm\n      model: writer", "type: lm\n      model: writer")
    )
    done = kubectl("apply", "-n", namespace, "-f", "-", stdin=text, check=False)
    assert done.returncode != 0
    assert "spec.nodes[1].type" in done.stderr and "Unsupported value" in done.stderr


def test_a_messages_field_keeps_its_reducer_and_a_bad_reference_is_refused(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    """The CRD gives ``reducer`` no default, so a messages field stays add_messages (the models'
    default for it); an llm node's ``messages`` naming a field of another type is refused."""
    chat = (EXAMPLES / "06-chat" / "workflow.yaml").read_text()
    kubectl("apply", "-n", namespace, "-f", "-", stdin=chat)
    stored = get(kubectl, namespace, "workflow", "chat")
    assert "reducer" not in stored["spec"]["state"]["messages"]  # the apiserver wrote none
    bad = (
        chat.replace("name: chat\n", "name: chat-bad\n", 1)
        .replace(
            "messages: {type: messages}", "messages: {type: messages}\n    notes: {type: string}"
        )
        .replace("      messages: messages", "      messages: notes")
    )
    done = kubectl("apply", "-n", namespace, "-f", "-", stdin=bad, check=False)
    assert done.returncode != 0
    assert "must name a state field of type messages" in done.stderr


def test_what_admission_cannot_check_is_stalled(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    text = (LINEAR / "workflow.yaml").read_text().replace("{{ notes }}", "{{ nots }}")
    kubectl("apply", "-n", namespace, "-f", "-", stdin=text)

    def stalled() -> dict[str, Any]:
        wf = get(kubectl, namespace, "workflow", "linear-chain")
        assert condition(wf, "Stalled")["status"] == "True"
        return wf

    wf = eventually(stalled)
    stall = condition(wf, "Stalled")
    assert stall["reason"] == "InvalidSpec"
    assert (
        "spec.nodes[1].prompt: template names 'nots' is not a declared state field; did you mean 'notes'?"
        in stall["message"]
    )
    assert condition(wf, "Ready")["status"] == "False"
    # Fixing it clears the stall.
    kubectl("apply", "-n", namespace, "-f", str(LINEAR))
    wait_ready(kubectl, namespace, "workflow/linear-chain")


def test_a_verb_outside_the_role_is_refused(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    as_operator = ["--kubeconfig", str(operator.kubeconfig)]
    assert (
        kubectl(
            *as_operator, "auth", "can-i", "patch", "deployments", "-n", namespace, check=False
        ).stdout.strip()
        == "yes"
    )
    for verb, resource in [
        ("get", "secrets"),
        ("create", "pods"),
        ("delete", "nodes"),
        ("update", "workflows.configurable-agents.io"),
        ("create", "workflows.configurable-agents.io"),
    ]:
        done = kubectl(*as_operator, "auth", "can-i", verb, resource, "-n", namespace, check=False)
        assert done.stdout.strip() == "no", (verb, resource)
    refused = kubectl(*as_operator, "get", "secrets", "-n", namespace, check=False)
    assert refused.returncode != 0 and "forbidden" in refused.stderr
    assert (
        json.loads(
            kubectl(*as_operator, "get", "agentpools", "-n", namespace, "-o", "json").stdout
        )["items"]
        == []
    )


def test_readiness_follows_pods_turning_unready(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(LINEAR))
    kubectl("scale", "agentpool/researchers", "--replicas=1", "-n", namespace)
    eventually(lambda: len(get(kubectl, namespace, "pods")["items"]) == 1)
    wait_ready(kubectl, namespace, "workflow/linear-chain")
    [pod] = get(kubectl, namespace, "pods")["items"]
    unready = {"status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    kubectl(
        "patch",
        "pod",
        pod["metadata"]["name"],
        "-n",
        namespace,
        "--subresource=status",
        "--type=strategic",
        "-p",
        json.dumps(unready),
    )

    def not_ready() -> bool:
        wf = get(kubectl, namespace, "workflow", "linear-chain")
        return "no ready endpoints for" in condition(wf, "Ready")["message"]

    eventually(not_ready, timeout=15)
