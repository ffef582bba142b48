"""The platform's namespace budgets and each namespace's spend against them.

Spend is runs' business, so it is shown to whoever may ``list`` runs in the namespace (RBAC on
``workflows/runs``, as ``GET /v1/runs`` asks): a namespace the caller may not list is left out.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter

from agent_runtime.engine.budgets import BudgetStatus, NamespaceBudgets
from agent_runtime.gateway.deps import CallerDep, GatewayDep
from agent_runtime.gateway.openapi import BudgetList, errors
from agent_runtime.policy.budgets import ANY

router = APIRouter(tags=["budgets"])


def view(status: BudgetStatus) -> dict[str, Any]:
    out = status.model_dump(mode="json", by_alias=True, exclude={"exceeded"})
    out["exceeded"] = [
        {**e.model_dump(mode="json"), "message": e.message()} for e in status.exceeded
    ]
    return out


@router.get(
    "/v1/budgets",
    operation_id="listBudgets",
    response_model=None,
    responses={200: {"model": BudgetList}, **errors(401, 503)},
)
async def list_budgets(gateway: GatewayDep, caller: CallerDep) -> dict[str, Any]:
    """Each namespace the caller may list runs in (those served here and those the policy
    names): its budget (null: none applies), its spend this UTC day and month, and the limits
    it has reached. ``configured`` is false when the platform sets no budgets."""
    budgets = gateway.budgets or NamespaceBudgets(gateway.store, None)
    policy = budgets.policy
    named = [ns for ns in (policy.namespaces if policy else {}) if ns != ANY]
    candidates = list(dict.fromkeys([*gateway.known_namespaces(), *named]))
    allowed = await gateway.access.listable_namespaces(caller, candidates)
    shown = sorted(candidates if allowed is None else allowed)
    statuses = await asyncio.gather(*(budgets.status(ns) for ns in shown))
    return {
        "configured": policy is not None,
        "onExceeded": budgets.on_exceeded,
        "items": [view(status) for status in statuses],
    }
