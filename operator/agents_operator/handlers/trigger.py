"""Trigger: whether it can fire, as kstatus conditions naming the field at fault.

Judged against its Workflow as the operator sees it (the ``workflows_by_namespace`` index): it
must exist, be Ready and take the Trigger's input (``spec.trigger_health``). Re-judged when the
Trigger changes and whenever a Workflow of its namespace does (created, edited, deleted, or its
own status moving), so a Trigger waiting for its Workflow turns Ready within seconds of it.

The operator writes only ``observedGeneration`` and ``conditions`` (merge patches); the gateway
writes ``lastScheduleTime``, ``lastSuccessfulTime`` and ``active`` beside them.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from agent_runtime.kube import KubeError
from agent_runtime.spec.errors import SpecError
from agent_runtime.spec.loader import parse_resource, parse_workflow
from agent_runtime.spec.trigger import Trigger
from agent_runtime.spec.trigger_health import Health as Verdicts
from agent_runtime.spec.trigger_health import judge
from agent_runtime.spec.workflow import Workflow
from agents_operator.conditions import Health, conditions
from agents_operator.handlers.context import (
    GROUP,
    VERSION,
    plain,
    trimmed,
    write_status_if_changed,
)
from agents_operator.reconciles import count_managed, reconciling

log = logging.getLogger(__name__)
KIND = "Trigger"
HEALTH: dict[Verdicts, Health] = {
    "Ready": Health.READY,
    "Reconciling": Health.PROGRESSING,
    "Stalled": Health.STALLED,
}


@kopf.index(GROUP, VERSION, "triggers")
async def triggers_by_namespace(namespace: str, body: kopf.Body, **_: Any) -> dict[str, Any]:
    return {namespace: trimmed(body)}


def workflow_health(body: dict[str, Any] | None) -> tuple[Verdicts, str]:
    """A Workflow's health as its own status says it; Reconciling until the operator has
    judged its current generation."""
    if body is None:
        return "Stalled", ""
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if status.get("observedGeneration") != generation:
        return "Reconciling", "its current generation is not judged yet"
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in HEALTH:
            return condition["type"], str(condition.get("message") or "")
    return "Reconciling", "it has no status yet"


def evaluate(body: Any, workflows: kopf.Index[Any, Any]) -> dict[str, Any]:
    """The operator's part of a Trigger's status now."""
    meta = body["metadata"]
    namespace, generation = meta.get("namespace") or "default", meta.get("generation")
    previous = (body.get("status") or {}).get("conditions")
    status: dict[str, Any] = {"observedGeneration": generation}
    try:
        trigger = parse_resource(plain(body))
    except SpecError as exc:  # admission refuses these; an older CRD might not have
        message = "; ".join(str(p) for p in exc.problems)
        status["conditions"] = conditions(
            Health.STALLED,
            reason="InvalidSpec",
            message=message,
            generation=generation,
            previous=previous,
        )
        return status
    assert isinstance(trigger, Trigger)
    name = trigger.spec.workflow
    found = next(
        (w for w in workflows.get(namespace, []) if w["metadata"].get("name") == name), None
    )
    workflow: Workflow | None = None
    if found is not None:
        try:
            workflow = parse_workflow(plain(found))
        except SpecError:
            workflow = None
    health, message = workflow_health(found)
    verdict = judge(
        trigger,
        workflow,
        found=found is not None,
        workflow_health=health,
        workflow_message=message,
    )
    status["conditions"] = conditions(
        HEALTH[verdict.health],
        reason=verdict.reason,
        message=verdict.message,
        generation=generation,
        previous=previous,
    )
    return status


async def reconcile(memo: kopf.Memo, body: Any, workflows: kopf.Index[Any, Any]) -> None:
    with reconciling(KIND):
        await write_status_if_changed(memo, body, KIND, evaluate(body, workflows))


@kopf.on.event(GROUP, VERSION, "triggers")
async def trigger_event(
    event: kopf.RawEvent,
    body: kopf.Body,
    memo: kopf.Memo,
    workflows_by_namespace: kopf.Index[Any, Any],
    triggers_by_namespace: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    count_managed(KIND, triggers_by_namespace)
    if event.get("type") == "DELETED" or body["metadata"].get("deletionTimestamp"):
        return
    await reconcile(memo, body, workflows_by_namespace)


@kopf.on.event(GROUP, VERSION, "workflows", id="triggers-on-workflows")
async def workflow_changed(
    body: kopf.Body,
    memo: kopf.Memo,
    workflows_by_namespace: kopf.Index[Any, Any],
    triggers_by_namespace: kopf.Index[Any, Any],
    **_: Any,
) -> None:
    """A Workflow changed (or went): re-judge the Triggers of its namespace that name it."""
    namespace, name = body["metadata"].get("namespace"), body["metadata"].get("name")
    for trigger in list(triggers_by_namespace.get(namespace, [])):
        if (trigger.get("spec") or {}).get("workflow") != name:
            continue
        try:
            await reconcile(memo, trigger, workflows_by_namespace)
        except (kopf.TemporaryError, kopf.PermanentError) as exc:  # what reconciling made of it
            if not isinstance(exc.__cause__, KubeError):
                raise
            log.warning(
                "trigger %s/%s: status not written: %s",
                namespace,
                trigger["metadata"]["name"],
                exc.__cause__,
            )
