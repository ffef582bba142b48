"""The work waiting for and held by each capability, per namespace: what autoscalers scale
AgentPools on (``autoscaling.metric: queue``).

Counted from the run store, so every gateway replica gives the same figures whichever KEDA asks:

- ``queued``: runs back in the queue because no agent served, or could take, a task of the
  capability (the run's ``waitingFor``). A run is counted once it has tried, which the worker
  does as soon as it is claimed.
- ``running``: runs executing whose Workflow has a node on the capability. A running run may be
  between tasks, or on another capability of the same Workflow: the figure is an upper bound, so
  a pool is never taken to zero under a run that may still need it.

Counting is bounded (``LIMIT`` runs of each status) so that a huge backlog costs a bounded read;
past it the figures say so (``truncated``), and a pool at ``maxReplicas`` is what they ask anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from agent_runtime.spec.workflow import LlmNode, ToolNode
from agent_runtime.stores import RunRecord, RunStatus, RunStore

#: The most runs of each status read for one count.
LIMIT = 10_000
PAGE = 500

Key = tuple[str, str]  # (namespace, capability)


class Load(BaseModel):
    """One (namespace, capability)'s figures."""

    queued: int = 0
    running: int = 0


class QueueLoad(BaseModel):
    """Figures of every (namespace, capability) with work, and whether the count was cut short."""

    loads: dict[Key, Load]
    truncated: bool = False

    def of(self, namespace: str, capability: str) -> Load:
        return self.loads.get((namespace, capability), Load())


#: Node types executed by agents (those with a ``capability``), and its default.
EXECUTED = {"llm": LlmNode, "tool": ToolNode}
DEFAULT_CAPABILITY = LlmNode.model_fields["capability"].default
#: Capabilities by spec hash (the hash names one exact spec): a bounded cache.
_CAPABILITIES: dict[str, frozenset[str]] = {}
_CACHED = 1024


def capabilities_of(run: RunRecord) -> frozenset[str]:
    """The capabilities the run's Workflow's executed nodes run on, once per exact spec. Read
    from the nodes as stored, not by validating the whole Workflow again: the spec was valid
    when the run started, and what validation depends on (the platform policy) may have moved."""
    known = _CAPABILITIES.get(run.spec_hash)
    if known is not None:
        return known
    nodes = (run.spec.get("spec") or {}).get("nodes") or []
    found = frozenset(
        str(node.get("capability") or DEFAULT_CAPABILITY)
        for node in nodes
        if isinstance(node, dict) and node.get("type") in EXECUTED
    )
    if len(_CAPABILITIES) >= _CACHED:
        _CAPABILITIES.pop(next(iter(_CAPABILITIES)))
    _CAPABILITIES[run.spec_hash] = found
    return found


async def _runs(
    store: RunStore, status: RunStatus, namespaces: Sequence[str] | None
) -> tuple[list[RunRecord], bool]:
    runs: list[RunRecord] = []
    cursor: str | None = None
    while True:
        page = await store.list_runs(
            status=status, namespaces=namespaces, limit=PAGE, cursor=cursor
        )
        runs.extend(page.items)
        cursor = page.next_cursor
        if not cursor:
            return runs, False
        if len(runs) >= LIMIT:
            return runs, True


async def count(store: RunStore, namespaces: Sequence[str] | None = None) -> QueueLoad:
    """The figures of ``namespaces`` (None: every namespace)."""
    queued_runs, cut_queued = await _runs(store, RunStatus.QUEUED, namespaces)
    running_runs, cut_running = await _runs(store, RunStatus.RUNNING, namespaces)
    queued = Counter((r.namespace, r.waiting_for) for r in queued_runs if r.waiting_for)
    running: Counter[Key] = Counter()
    for run in running_runs:
        running.update((run.namespace, c) for c in capabilities_of(run))
    loads = {
        key: Load(queued=queued.get(key, 0), running=running.get(key, 0))
        for key in set(queued) | set(running)
    }
    return QueueLoad(loads=loads, truncated=cut_queued or cut_running)


def answer(load: QueueLoad, namespace: str, capabilities: Iterable[str]) -> dict[str, Any]:
    """The queue endpoint's body: each capability's figures and their sums; ``total`` is what
    KEDA's ``metrics-api`` trigger reads (``valueLocation: total``)."""
    per = {c: load.of(namespace, c) for c in dict.fromkeys(capabilities)}
    queued = sum(f.queued for f in per.values())
    running = sum(f.running for f in per.values())
    return {
        "namespace": namespace,
        "capabilities": {c: f.model_dump() for c, f in per.items()},
        "queued": queued,
        "running": running,
        "total": queued + running,
        "truncated": load.truncated,
    }


class Figures:
    """The figures, read from the store at most every ``ttl`` seconds per namespace (and for
    all at once), so that KEDA polling many pools and Prometheus scraping cost a count a second."""

    def __init__(self, store: RunStore, *, ttl: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self._kept: dict[str | None, tuple[float, QueueLoad]] = {}
        self._locks: dict[str | None, asyncio.Lock] = {}

    async def get(self, namespace: str | None = None) -> QueueLoad:
        """Of one namespace, or of all (None)."""
        lock = self._locks.setdefault(namespace, asyncio.Lock())
        async with lock:  # callers at once share one count
            kept = self._kept.get(namespace)
            if kept is not None and time.monotonic() - kept[0] < self.ttl:
                return kept[1]
            load = await count(self.store, None if namespace is None else [namespace])
            self._kept[namespace] = (time.monotonic(), load)
            if len(self._kept) > 4096:  # namespaces that stopped asking
                oldest = min(self._kept, key=lambda k: self._kept[k][0])
                self._kept.pop(oldest, None)
                self._locks.pop(oldest, None)
            return load


_figures: dict[int, Figures] = {}


def figures_of(store: RunStore) -> Figures:
    """The one Figures of a store (the gateway's), made on first use."""
    found = _figures.get(id(store))
    if found is None or found.store is not store:
        found = _figures[id(store)] = Figures(store)
    return found
