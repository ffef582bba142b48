"""The Triggers this gateway fires, with their status: what a file-served Trigger has in place
of the cluster's status subresource, and what the dashboard lists."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.openapi import TriggerList, errors
from agent_runtime.gateway.trigger_status import current
from agent_runtime.gateway.webhooks import WebhookKeySource, key_source
from agent_runtime.spec.trigger import Trigger
from agent_runtime.spec.trigger_health import judge

router = APIRouter(tags=["triggers"])


def conditions(trigger: Trigger, catalog: Catalog, keys: WebhookKeySource) -> list[dict[str, Any]]:
    """The operator's conditions (a Trigger read from the cluster), else the same judgement
    made here against the served Workflow (a Trigger read from a file), and its webhook's keys
    (a ``secretRef`` a gateway serving files cannot read, ``env`` variables not set)."""
    if trigger.status is not None and trigger.status.conditions:
        return [c.model_dump(by_alias=True, exclude_none=True) for c in trigger.status.conditions]
    entry = catalog.get(trigger.namespace, trigger.spec.workflow)
    verdict = judge(
        trigger,
        entry.workflow if entry is not None else None,
        found=entry is not None,
        workflow_health="Ready" if entry is not None and entry.ready else "Stalled",
        workflow_message="; ".join(entry.problems) if entry is not None else "",
        keys_problem=keys.problem(trigger),
    )
    generation = trigger.metadata.generation
    return [
        {
            "type": kind,
            "status": "True" if kind == verdict.health else "False",
            "reason": verdict.reason,
            "message": verdict.message,
            **({"observedGeneration": generation} if generation is not None else {}),
        }
        for kind in ("Ready", "Reconciling", "Stalled")
    ]


def described(trigger: Trigger, catalog: Catalog, keys: WebhookKeySource) -> dict[str, Any]:
    spec = trigger.spec.model_dump(by_alias=True, exclude_none=True)
    return {
        "namespace": trigger.namespace,
        "name": trigger.name,
        "workflow": trigger.spec.workflow,
        "suspend": trigger.spec.suspend,
        "spec": spec,
        "status": {**current(trigger), "conditions": conditions(trigger, catalog, keys)},
    }


@router.get(
    "/v1/triggers",
    operation_id="listTriggers",
    response_model=None,
    responses={200: {"model": TriggerList}, **errors(401, 503)},
)
async def list_triggers(request: Request, gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    """Triggers whose Workflow's runs the caller may read (as ``GET /v1/runs`` would show
    them), with their status."""
    served = gateway.catalog.triggers()
    shown = await asyncio.gather(
        *(gateway.access.may(caller, "get", t.namespace, t.spec.workflow) for t in served)
    )
    return {
        "items": [
            described(trigger, gateway.catalog, key_source(request.app))
            for trigger, ok in zip(served, shown, strict=True)
            if ok
        ]
    }
