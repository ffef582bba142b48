"""A run's state after each step, rebuilt in the dashboard from the event stream.

The events carry what each step wrote; the workflow's declared reducers (replace, append,
merge, sum, and add_messages for a messages field) fold those writes into the state a person
wants to see after every step.
"""

from __future__ import annotations

import copy
from typing import Any

from agent_runtime.spec.messages import add_messages, is_message_schema, replace_messages

StepKey = tuple[str, int, int]


def _reduce(reducer: str, old: Any, new: Any) -> Any:
    if reducer == "messages":
        return add_messages(old if isinstance(old, list) else [], new)
    if reducer == "replace-messages":
        return replace_messages(None, new)
    if reducer == "append":
        items = list(old) if isinstance(old, list) else []
        return items + (list(new) if isinstance(new, list) else [new])
    if reducer == "merge" and isinstance(old, dict) and isinstance(new, dict):
        return {**old, **new}
    if reducer == "sum" and isinstance(old, int | float) and isinstance(new, int | float):
        return old + new
    return new


def _reducer(field: dict[str, Any]) -> str:
    reducer = str(field.get("reducer", "replace"))
    if is_message_schema(field):
        return "messages" if reducer == "append" else "replace-messages"
    return reducer


class StateTracker:
    """Folds ``node.finished`` updates into the state, keeping a snapshot per step, and the
    text of answers still being written (``node.delta``) until their node finishes."""

    def __init__(self, fields: dict[str, Any], given: dict[str, Any]) -> None:
        self.reducers = {k: _reducer(v or {}) for k, v in fields.items()}
        self.state: dict[str, Any] = {
            k: copy.deepcopy((v or {}).get("zero")) for k, v in fields.items()
        }
        self.state.update(given)
        self.snapshots: dict[StepKey, dict[str, Any]] = {}
        self.updates: dict[StepKey, dict[str, Any]] = {}
        self.last_seq = 0
        #: messageId -> {node, visit, text} of answers being written, oldest first.
        self.writing: dict[str, dict[str, Any]] = {}

    def feed(self, kind: str, data: dict[str, Any], seq: int | None = None) -> None:
        if seq is not None:
            self.last_seq = max(self.last_seq, seq)
        if kind == "node.delta":
            message_id = str(data.get("messageId") or data.get("node"))
            entry = self.writing.setdefault(
                message_id,
                {"node": data.get("node"), "visit": data.get("visit", 0), "text": ""},
            )
            entry["text"] += str(data.get("text", ""))
            return
        if kind in ("node.failed", "node.retrying"):
            self._written(data)
        if kind != "node.finished":
            return
        self._written(data)
        update = data.get("update") or {}
        for name, value in update.items():
            self.state[name] = _reduce(
                self.reducers.get(name, "replace"), self.state.get(name), value
            )
        key = (str(data.get("node")), int(data.get("visit", 0)), int(data.get("attempt", 1)))
        self.updates[key] = dict(update)
        self.snapshots[key] = copy.deepcopy(self.state)

    def _written(self, data: dict[str, Any]) -> None:
        """The node's attempt ended: its answer is in its update, or was never finished."""
        node, visit = data.get("node"), data.get("visit", 0)
        for key in [k for k, v in self.writing.items() if (v["node"], v["visit"]) == (node, visit)]:
            del self.writing[key]

    @property
    def conversations(self) -> dict[str, list[dict[str, Any]]]:
        """The messages fields of the current state, to be shown as conversations."""
        return {
            name: [m for m in self.state.get(name) or [] if isinstance(m, dict)]
            for name, reducer in self.reducers.items()
            if reducer in ("messages", "replace-messages")
        }
