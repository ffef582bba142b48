"""Templates and the view models they render: times, durations, step rows, run summaries."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates

from agent_runtime.ui.client import GatewayError
from agent_runtime.ui.forms import form_fields
from agent_runtime.ui.state_tracker import StateTracker

HERE = Path(__file__).parent
STATUSES = ["queued", "running", "interrupted", "succeeded", "failed", "cancelled"]
ACTIVE = {"queued", "running", "interrupted"}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def when(value: str | None) -> str:
    moment = _time(value)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "—"


def duration(start: str | None, end: str | None) -> str:
    first, last = _time(start), _time(end)
    if first is None or last is None:
        return "—"
    seconds = (last - first).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def condition(workflow: dict[str, Any], kind: str = "Ready") -> dict[str, Any]:
    for item in workflow.get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {"type": kind, "status": "Unknown", "reason": "", "message": ""}


def serving(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    """Each capability the workflow needs, with the AgentPools the operator found serving it.

    ``state`` is ``served`` (ready endpoints), ``unready`` (pools, none ready), ``no-pool``,
    or ``unknown`` when no operator has looked at the workflow yet: no status (files served by
    this gateway's agents), or only the CRD's default ``observedGeneration: 0``.
    """
    status = workflow.get("status")
    if status is not None and not status.get("observedGeneration"):
        status = None
    found: dict[str, Any] = (status or {}).get("capabilities") or {}
    names = sorted({*(workflow.get("capabilities") or []), *found})
    rows = []
    for name in names:
        entry = found.get(name)
        if status is None:
            rows.append({"name": name, "pools": [], "ready": 0, "state": "unknown"})
            continue
        pools = list((entry or {}).get("pools") or [])
        ready = int((entry or {}).get("readyEndpoints") or 0)
        ready += int((entry or {}).get("externalMembers") or 0)  # agents outside the cluster
        state = "served" if ready else ("unready" if pools else "no-pool")
        rows.append({"name": name, "pools": pools, "ready": ready, "state": state})
    return rows


def startable(workflow: dict[str, Any]) -> bool:
    """Runs can be started when the spec is valid; without a ready pool they wait queued."""
    return "input" in workflow


def advice(error: object) -> str:
    """What the user can do about the gateway refusing them ("" for any other error)."""
    if not isinstance(error, GatewayError):
        return ""
    if error.status == 401:
        return (
            "Sign in required: the gateway did not accept your credentials (none were sent, "
            "or your sign-in has expired). Sign in again, then reload this page."
        )
    if error.status == 403:
        return (
            "Not allowed: you are signed in, but your account may not do this. "
            "Ask whoever runs this installation for access."
        )
    return ""


def templates() -> Jinja2Templates:
    out = Jinja2Templates(directory=str(HERE / "templates"))
    out.env.filters.update(when=when, pretty=pretty)
    out.env.globals.update(
        duration=duration,
        condition=condition,
        serving=serving,
        startable=startable,
        advice=advice,
        statuses=STATUSES,
    )
    return out


def _retries(steps: list[dict[str, Any]]) -> int:
    """Attempts after one that did not succeed. A node that paused (for an approval, a limit)
    goes on as its next attempt: that is no retry."""
    done = {
        (s["node"], int(s.get("visit", 0)), int(s.get("attempt", 1)))
        for s in steps
        if s.get("status") in ("succeeded", "paused")
    }
    return sum(
        1
        for s in steps
        if int(s.get("attempt", 1)) > 1
        and (s["node"], int(s.get("visit", 0)), int(s.get("attempt", 1)) - 1) not in done
    )


def run_view(run: dict[str, Any], tracker: StateTracker | None) -> dict[str, Any]:
    """What the run page shows: the run, each step with its timing, tokens and state after it."""
    steps = []
    for step in run.get("steps") or []:
        key = (step["node"], int(step.get("visit", 0)), int(step.get("attempt", 1)))
        steps.append(
            {
                **step,
                "took": duration(step.get("startedAt"), step.get("finishedAt")),
                "wrote": tracker.updates.get(key) if tracker else None,
                "stateAfter": tracker.snapshots.get(key) if tracker else None,
            }
        )
    interrupt = run.get("interrupt") or {}
    waiting = run["status"] == "interrupted"
    approval = waiting and interrupt.get("kind") == "approval"
    return {
        "run": run,
        "steps": steps,
        "active": run["status"] in ACTIVE,
        # what the gateway says this user may do with the run (older gateways say nothing)
        "may_update": bool((run.get("permissions") or {}).get("update", True)),
        "took": duration(run.get("startedAt"), run.get("finishedAt")),
        "tokens": {
            "input": sum(int(s.get("inputTokens", 0)) for s in steps),
            "output": sum(int(s.get("outputTokens", 0)) for s in steps),
        },
        "retries": _retries(steps),
        "state": tracker.state if tracker else None,
        "conversations": tracker.conversations if tracker else {},
        # answers a model is still writing, shown as they grow
        "writing": [{"id": k, **v} for k, v in tracker.writing.items()] if tracker else [],
        "resume_fields": (
            form_fields(interrupt.get("fields") or {}) if waiting and not approval else []
        ),
        # A run waiting for a yes or no (gated tool calls, or a limit), not for input.
        "approval": interrupt if approval else None,
        "approval_token": interrupt_token(interrupt) if approval else "",
        "approvals": list(run.get("approvals") or []),
    }


def interrupt_token(interrupt: dict[str, Any]) -> str:
    """A digest of what a run waits for. An approval form carries the one it showed; a
    decision is refused when the run waits for anything else by then (another person decided,
    or the model asked again, possibly under the same call ids), so nobody approves calls they
    never saw."""
    text = json.dumps(interrupt, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def actions_key(run: dict[str, Any]) -> str:
    """What the run's action forms depend on: they are re-rendered only when this changes.

    Whether the run waits and for exactly what: a node may ask for approvals more than once in
    one visit, and a decided approval must not leave its form on the page while the run goes on.
    """
    interrupt = run.get("interrupt") or {}
    waiting = run.get("status") == "interrupted"
    what = interrupt_token(interrupt) if waiting and interrupt.get("kind") == "approval" else ""
    return (
        f"{run.get('status') in ACTIVE}:{interrupt.get('node', '')}:{interrupt.get('visit', '')}"
        f"{':' + what if what else ''}"
    )
