"""The budgets page: each namespace's spend against the platform's budgets (``GET /v1/budgets``).

The gateway shows only the namespaces the signed-in user may list runs in, so the page does too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from agent_runtime.ui.client import GatewayError
from agent_runtime.ui.csrf import verify
from agent_runtime.ui.pages import Client, failure, page

router = APIRouter(dependencies=[Depends(verify)])

#: (limit as the policy names it, column heading, period, spend field).
COLUMNS = [
    ("tokensPerDay", "Tokens today", "day", "tokens"),
    ("tokensPerMonth", "Tokens this month", "month", "tokens"),
    ("costPerDay", "Cost today", "day", "cost"),
    ("costPerMonth", "Cost this month", "month", "cost"),
]


@dataclass(frozen=True)
class Cell:
    """One limit of one namespace: what was used, what is allowed (None: no limit)."""

    limit: str
    used: float
    allowed: float | None
    cost: bool
    over: bool

    @property
    def percent(self) -> int | None:
        if self.allowed is None:
            return None
        if self.allowed <= 0:
            return 100
        return round(100 * self.used / self.allowed)

    def show(self, value: float | None) -> str:
        if value is None:
            return "no limit"
        return f"{value:,.2f}" if self.cost else f"{int(value):,}"


def cells(item: dict[str, Any]) -> list[Cell]:
    budget = item.get("budget") or {}
    spend = item.get("spend") or {}
    over = {e.get("limit") for e in item.get("exceeded") or []}
    out = []
    for limit, _, period, kind in COLUMNS:
        used = float((spend.get(period) or {}).get(kind) or 0)
        allowed = budget.get(limit)
        out.append(
            Cell(
                limit=limit,
                used=used,
                allowed=float(allowed) if allowed is not None else None,
                cost=kind == "cost",
                over=limit in over,
            )
        )
    return out


@router.get("/budgets", response_class=HTMLResponse)
async def budgets_page(request: Request, client: Client) -> HTMLResponse:
    try:
        answer = await client.budgets()
    except GatewayError as exc:
        return failure(request, exc, "Budgets")
    items = answer.get("items") or []
    context = {
        "title": "Budgets",
        "configured": bool(answer.get("configured")),
        "on_exceeded": answer.get("onExceeded"),
        "columns": COLUMNS,
        "rows": [(item, cells(item)) for item in items],
    }
    return page(request, "budgets.html", context)
