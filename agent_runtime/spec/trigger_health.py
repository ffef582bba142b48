"""Whether a Trigger can fire, in kstatus' words: one judgement for the operator (which writes
it as the Trigger's conditions) and a gateway serving Triggers from files (``GET /v1/triggers``).

A Trigger is ``Ready`` when its Workflow exists, is Ready, and takes the Trigger's input; it is
``Stalled`` naming the field at fault (``spec.workflow``, ``spec.input.<field>``) when it cannot
fire without a change to it or to its Workflow, and ``Reconciling`` while its Workflow is getting
ready (waiting for agents). A suspended Trigger is ``Ready`` with reason ``Suspended``: nothing is
wrong with it, and ``kubectl wait --for=condition=Ready`` should not hang on a paused schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from agent_runtime.spec.trigger import Trigger, input_problems
from agent_runtime.spec.workflow import Workflow

#: The one kstatus condition that is True.
Health = Literal["Ready", "Reconciling", "Stalled"]


@dataclass(frozen=True)
class Verdict:
    health: Health
    reason: str
    message: str


def judge(
    trigger: Trigger,
    workflow: Workflow | None,
    *,
    found: bool,
    workflow_health: Health,
    workflow_message: str = "",
    keys_problem: str | None = None,
) -> Verdict:
    """The trigger's health, given its Workflow: ``found`` (the object exists), ``workflow``
    (its spec, None when invalid) and that Workflow's own health and message; ``keys_problem``:
    why the gateway cannot have the webhook's keys, whatever a delivery brings."""
    name = trigger.spec.workflow
    if keys_problem is not None:
        return Verdict("Stalled", "KeysUnavailable", keys_problem)
    if not found:
        return Verdict(
            "Stalled",
            "WorkflowNotFound",
            f"spec.workflow: no Workflow {name!r} in namespace {trigger.namespace!r}",
        )
    if workflow is None or workflow_health == "Stalled":
        why = f": {workflow_message}" if workflow_message else ""
        return Verdict("Stalled", "WorkflowStalled", f"spec.workflow: {name!r} is stalled{why}")
    if problems := input_problems(trigger, workflow):
        return Verdict("Stalled", "InvalidInput", "; ".join(map(str, problems)))
    if workflow_health == "Reconciling":
        why = f": {workflow_message}" if workflow_message else ""
        return Verdict("Reconciling", "WorkflowNotReady", f"Workflow {name!r} is not Ready{why}")
    if trigger.spec.suspend:
        return Verdict("Ready", "Suspended", "suspended: fires nothing until spec.suspend is false")
    schedule = trigger.spec.schedule
    if schedule is not None:
        when = f"{schedule.schedule!r} in {schedule.time_zone}"
        return Verdict("Ready", "Scheduled", f"fires Workflow {name!r} on {when}")
    if trigger.spec.webhook is not None:
        route = f"/v1/triggers/{trigger.namespace}/{trigger.name}/webhook"
        return Verdict("Ready", "Listening", f"starts Workflow {name!r} for deliveries to {route}")
    return Verdict("Ready", "Ready", f"fires Workflow {name!r}")
