"""What the routes reach: the store, the engine, the workers and the catalog of one gateway."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from agent_runtime.engine import Dispatcher, Engine
from agent_runtime.engine.budgets import NamespaceBudgets
from agent_runtime.gateway.access import Access
from agent_runtime.gateway.admission import Admission
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.members import MemberStore
from agent_runtime.gateway.pull import PullQueues
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.gateway.watches import NamespacedWatches
from agent_runtime.gateway.worker import RunWorker
from agent_runtime.stores import RunRecord, RunStatus, RunStore

#: Statuses a waiting client is answered at.
SETTLED = {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.INTERRUPTED}


@dataclass
class Gateway:
    settings: GatewaySettings
    store: RunStore
    engine: Engine
    dispatcher: Dispatcher
    worker: RunWorker
    catalog: Catalog
    admission: Admission
    access: Access = field(default_factory=Access)
    #: The platform's namespace budgets (None, or ``policy`` None: the platform sets none).
    budgets: NamespaceBudgets | None = None
    #: The cluster watches feeding the catalog and the registry (none without ``kubernetes``).
    watches: list[NamespacedWatches] = field(default_factory=list)
    #: Registrations of agents outside the cluster (None: tasks run in this process).
    members: MemberStore | None = None
    #: Tasks waiting for the external agents that pull them, in this replica.
    pulls: PullQueues | None = None
    #: Reads an AgentPool (namespace, name) from the cluster; None without one.
    pools: Callable[[str, str], Awaitable[dict[str, Any] | None]] | None = None
    _settled: defaultdict[str, asyncio.Event] = field(
        default_factory=lambda: defaultdict(asyncio.Event)
    )
    #: Runs someone here waits for, as this replica's execution of them settled them.
    _final: dict[str, RunRecord] = field(default_factory=dict)

    def known_namespaces(self) -> list[str]:
        """Namespaces runs may be in: those watched, those of the Workflows served."""
        served = [entry.namespace for entry in self.catalog.entries()]
        return list(dict.fromkeys([*self.settings.served_namespaces, *served]))

    def notify(self, run_id: str, run: RunRecord | None = None) -> None:
        """A run this replica executed stopped (``run``: as it settled, if known): wake
        whoever waits for it."""
        event = self._settled.get(run_id)
        if event is not None:
            if run is not None and run.status in SETTLED:
                self._final[run_id] = run
            event.set()

    async def wait_settled(self, run_id: str) -> RunRecord:
        """Until the run finishes or waits at a human node (wherever it is executed); one this
        replica settles while it waits is taken as the execution left it, without a read."""
        event = self._settled[run_id]
        try:
            while True:
                run = self._final.pop(run_id, None) or await self.store.get_run(run_id)
                if run.status in SETTLED:
                    return run
                event.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.poll_interval):
                        await event.wait()
        finally:
            self._settled.pop(run_id, None)
            self._final.pop(run_id, None)
