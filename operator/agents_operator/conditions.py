"""kstatus conditions (Ready, Reconciling, Stalled) that kubectl wait, Argo CD and Flux read."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any


class Health(Enum):
    READY = "Ready"  # Ready=True
    PROGRESSING = "Progressing"  # Reconciling=True: getting there
    STALLED = "Stalled"  # Stalled=True: will not get there without a change


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(
    health: Health,
    *,
    reason: str,
    message: str,
    generation: int | None,
    previous: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The three kstatus conditions; a transition time only moves when the status does."""
    before = {c.get("type"): c for c in previous or []}
    wanted = {
        "Ready": health is Health.READY,
        "Reconciling": health is Health.PROGRESSING,
        "Stalled": health is Health.STALLED,
    }
    out = []
    for kind, value in wanted.items():
        status = "True" if value else "False"
        old = before.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "observedGeneration": generation,
                "lastTransitionTime": since or _now(),
            }
        )
    return out


def same_conditions(a: list[dict[str, Any]] | None, b: list[dict[str, Any]] | None) -> bool:
    """Equal but for transition times: no status write is needed."""

    def strip(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in items or []]

    return strip(a) == strip(b)
