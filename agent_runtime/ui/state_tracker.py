"""A run's state after each step, rebuilt in the dashboard from the event stream.

The events carry what each step wrote; the workflow's declared reducers (replace, append,
merge, sum) fold those writes into the state a person wants to see after every step.
"""

from __future__ import annotations

import copy
from typing import Any

StepKey = tuple[str, int, int]


def _reduce(reducer: str, old: Any, new: Any) -> Any:
    if reducer == "append":
        items = list(old) if isinstance(old, list) else []
        return items + (list(new) if isinstance(new, list) else [new])
    if reducer == "merge" and isinstance(old, dict) and isinstance(new, dict):
        return {**old, **new}
    if reducer == "sum" and isinstance(old, int | float) and isinstance(new, int | float):
        return old + new
    return new


class StateTracker:
    """Folds ``node.finished`` updates into the state, keeping a snapshot per step."""

    def __init__(self, fields: dict[str, Any], given: dict[str, Any]) -> None:
        self.reducers = {k: str((v or {}).get("reducer", "replace")) for k, v in fields.items()}
        self.state: dict[str, Any] = {
            k: copy.deepcopy((v or {}).get("zero")) for k, v in fields.items()
        }
        self.state.update(given)
        self.snapshots: dict[StepKey, dict[str, Any]] = {}
        self.updates: dict[StepKey, dict[str, Any]] = {}
        self.last_seq = 0

    def feed(self, kind: str, data: dict[str, Any], seq: int | None = None) -> None:
        if seq is not None:
            self.last_seq = max(self.last_seq, seq)
        if kind != "node.finished":
            return
        update = data.get("update") or {}
        for name, value in update.items():
            self.state[name] = _reduce(
                self.reducers.get(name, "replace"), self.state.get(name), value
            )
        key = (str(data.get("node")), int(data.get("visit", 0)), int(data.get("attempt", 1)))
        self.updates[key] = dict(update)
        self.snapshots[key] = copy.deepcopy(self.state)
