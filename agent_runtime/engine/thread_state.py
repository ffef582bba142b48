"""A run on a thread: the state it starts from, and the state it leaves the thread.

A run on a thread starts from the thread's values (the state its last run ended with) with the
run's input folded in by each field's reducer (``channels.reducer``: an ``append`` array grows,
a ``messages`` field adds the new messages, a plain field is replaced). When it finishes or stops
interrupted, its declared fields are what the store keeps as the thread's values, in the same
write as the run's last transition (``thread_rules.THREAD_VALUES``).
"""

from __future__ import annotations

from typing import Any

from agent_runtime.engine.channels import initial_state, reducer
from agent_runtime.spec.workflow import WorkflowSpec
from agent_runtime.stores import RunRecord, RunStore
from agent_runtime.stores.errors import ThreadNotFound
from agent_runtime.stores.thread_rules import THREAD_VALUES


def start_state(
    spec: WorkflowSpec, given: dict[str, Any], base: dict[str, Any] | None
) -> dict[str, Any]:
    """The initial state of a run: ``base`` (a thread's values) if any, then its input."""
    if base is None:
        return initial_state(spec, given)
    state = initial_state(spec, {})
    state.update({name: base[name] for name in spec.state if name in base})
    for name, value in given.items():
        field = spec.state.get(name)
        fold = reducer(field) if field is not None and name in base else None
        state[name] = fold(state[name], value) if fold else value
    return state


async def thread_base(store: RunStore, run: RunRecord) -> dict[str, Any] | None:
    """The values a run on a thread starts from (None: it is on none)."""
    if run.thread_id is None:
        return None
    try:
        return (await store.get_thread(run.thread_id)).values
    except ThreadNotFound:
        return None


def kept(spec: WorkflowSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The declared fields of a state: what a thread keeps of it."""
    return {name: values[name] for name in spec.state if name in values}


def leaving(run: RunRecord, spec: WorkflowSpec, values: dict[str, Any] | None) -> dict[str, Any]:
    """The transition keyword leaving ``values`` to the run's thread ({} if it has none)."""
    if run.thread_id is None or values is None:
        return {}
    return {THREAD_VALUES: kept(spec, values)}


async def last_values(store: RunStore, run: RunRecord) -> dict[str, Any] | None:
    """The state of a run's last checkpoint (a thread run that failed or was cancelled leaves
    its progress); None when it has none, or is on no thread."""
    if run.thread_id is None:
        return None
    found = await store.checkpointer().aget_tuple({"configurable": {"thread_id": run.id}})
    return None if found is None else dict(found.checkpoint.get("channel_values", {}))
