"""Triggers judged by the operator on the real control plane, with kstatus (what Flux and kpt use)
agreeing at every step: Stalled naming ``spec.workflow`` while the Workflow is missing, Reconciling
while it waits for agents, Ready once it is; Stalled naming ``spec.input.<field>`` for input the
Workflow does not take; Ready with reason Suspended when suspended."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.kstatus_harness import Kstatus
from tests.kstatus_harness import kstatus as kstatus
from tests.operator.conftest import OperatorProcess
from tests.operator.test_kstatus import POOL, WORKFLOW, apply, patch, reason, ref, settle

pytestmark = pytest.mark.cluster

TRIGGER = (EXAMPLES / "triggers" / "daily-report.yaml").read_text()


def trigger(**spec: Any) -> str:
    doc = yaml.safe_load(TRIGGER)
    doc["spec"].update(spec)
    return yaml.safe_dump(doc)


def test_a_trigger_waits_stalled_for_its_workflow_then_turns_ready(
    operator: OperatorProcess, kstatus: Kstatus, kubectl: Any, namespace: str
) -> None:
    what = ref("Trigger", namespace, "daily-report")
    apply(kubectl, namespace, trigger(suspend=False))
    v = settle(kstatus, what, "Failed", reason("Stalled", "WorkflowNotFound"))
    assert v.message == f"spec.workflow: no Workflow 'linear-chain' in namespace '{namespace}'"
    assert v.observed_generation == v.generation == 1

    # its Workflow appears, waiting for agents: the trigger waits with it (InProgress)
    apply(kubectl, namespace, WORKFLOW)
    v = settle(kstatus, what, "InProgress", reason("Reconciling", "WorkflowNotReady"))
    assert v.message.startswith("Workflow 'linear-chain' is not Ready")

    # agents serve it: Ready (Current), and the operator wrote only its own fields
    apply(kubectl, namespace, POOL.format(name="agents", extra=""))
    v = settle(kstatus, what, "Current", reason("Ready", "Scheduled"), timeout=120)
    assert "'0 7 * * *' in Europe/Berlin" in (v.condition("Ready") or {})["message"]
    status = yaml.safe_load(
        kubectl("get", "catr", "daily-report", "-n", namespace, "-o", "yaml").stdout
    )["status"]
    assert set(status) == {"observedGeneration", "conditions"}

    # suspended: still Ready, saying so
    patch(kubectl, namespace, "trigger/daily-report", {"spec": {"suspend": True}})
    v = settle(kstatus, what, "Current", reason("Ready", "Suspended"))
    assert v.generation == v.observed_generation == 2

    # its Workflow deleted: Stalled again, naming the field
    kubectl("delete", "workflow/linear-chain", "-n", namespace)
    settle(kstatus, what, "Failed", reason("Stalled", "WorkflowNotFound"))


def test_input_the_workflow_does_not_take_stalls_naming_the_field(
    operator: OperatorProcess, kstatus: Kstatus, kubectl: Any, namespace: str
) -> None:
    apply(kubectl, namespace, WORKFLOW)
    apply(kubectl, namespace, trigger(input={"topic": "x", "colour": "red"}))
    what = ref("Trigger", namespace, "daily-report")
    v = settle(kstatus, what, "Failed", reason("Stalled", "InvalidInput"))
    assert v.message.startswith("spec.input.colour: not an input of this workflow")
    # fixed: the Stalled condition goes (Reconciling: no agents here)
    patch(kubectl, namespace, "trigger/daily-report", {"spec": {"input": {"colour": None}}})
    settle(kstatus, what, "InProgress", reason("Reconciling", "WorkflowNotReady"))
    missing = trigger(input={})
    apply(kubectl, namespace, missing)
    v = settle(kstatus, what, "Failed", reason("Stalled", "InvalidInput"))
    assert v.message.startswith("spec.input.topic:")
