"""A webhook Trigger judged by the operator on the real control plane, as kstatus reads it: a
mapping whose CEL does not parse (past admission: the CRD cannot parse CEL) is Stalled naming
the expression's field, a mapping to a field the Workflow does not take is Stalled naming it, and
a good one waits for the Workflow's agents like any Trigger."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import EXAMPLES
from tests.kstatus_harness import Kstatus
from tests.kstatus_harness import kstatus as kstatus
from tests.operator.conftest import OperatorProcess
from tests.operator.test_kstatus import WORKFLOW, apply, patch, reason, ref, settle

pytestmark = pytest.mark.cluster

EXAMPLE = (EXAMPLES / "triggers" / "github-pull-request.yaml").read_text()


def trigger(**mapping: str) -> str:
    doc = yaml.safe_load(EXAMPLE)
    doc["spec"]["webhook"]["input"] = mapping
    return yaml.safe_dump(doc)


def test_a_mapping_that_cannot_work_stalls_naming_the_field(
    operator: OperatorProcess, kstatus: Kstatus, kubectl: Any, namespace: str
) -> None:
    apply(kubectl, namespace, WORKFLOW)
    what = ref("Trigger", namespace, "github-pull-request")
    apply(kubectl, namespace, trigger(topic="body.pull_request.title +"))
    v = settle(kstatus, what, "Failed", reason("Stalled", "InvalidSpec"))
    assert "spec.webhook.input.topic: CEL does not parse" in v.message, v.message
    apply(kubectl, namespace, trigger(topic="body.title", colour="body.colour"))
    v = settle(kstatus, what, "Failed", reason("Stalled", "InvalidInput"))
    assert v.message.startswith("spec.webhook.input.colour: not an input of this workflow")
    # fixed: it waits for the Workflow's agents, as a schedule would
    patch(
        kubectl,
        namespace,
        "trigger/github-pull-request",
        {"spec": {"webhook": {"input": {"colour": None}}}},
    )
    settle(kstatus, what, "InProgress", reason("Reconciling", "WorkflowNotReady"))
