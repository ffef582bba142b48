"""The triggers page: each Trigger the signed-in user may read runs of (``GET /v1/triggers``),
with its schedule, its health, when it last fired and last succeeded, and its active runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agent_runtime.ui.client import GatewayError
from agent_runtime.ui.csrf import verify
from agent_runtime.ui.pages import Client, failure, page

router = APIRouter(dependencies=[Depends(verify)])


def health(item: dict[str, Any]) -> dict[str, Any]:
    """The trigger's one True condition (Ready, Reconciling or Stalled), or an unknown one."""
    conditions = (item.get("status") or {}).get("conditions") or []
    for condition in conditions:
        if condition.get("status") == "True":
            return dict(condition)
    return {"type": "Unknown", "reason": "", "message": "no status yet"}


@router.get("/triggers", response_class=HTMLResponse)
async def triggers_page(request: Request, client: Client) -> HTMLResponse:
    try:
        answer = await client.triggers()
    except GatewayError as exc:
        return failure(request, exc, "Triggers")
    items = answer.get("items") or []
    context = {"title": "Triggers", "rows": [(item, health(item)) for item in items]}
    return page(request, "triggers.html", context)
