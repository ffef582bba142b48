"""Double texting: what a run started on a thread that another run holds does
(``multitask_strategy``), and cancelling a thread's run (``action``).

``reject`` answers 409 naming the thread and the run holding it. ``interrupt`` and ``rollback``
stop the holding run (keeping, or erasing, what it did) and then start the new one; ``enqueue``
starts the new run once the holding one is done.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from agent_runtime.auth import Identity
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.langgraph.wire import RunCreate
from agent_runtime.gateway.launch import Refused
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunRecord
from agent_runtime.stores.errors import ThreadConflict

CancelAction = Literal["interrupt", "rollback"]


async def resolve(
    gateway: Gateway, caller: Identity, workflow: Workflow, body: RunCreate, busy: ThreadConflict
) -> RunRecord:
    """The run started despite ``busy``, as ``body.multitask_strategy`` says."""
    if body.multitask_strategy == "reject":
        raise busy
    raise Refused(
        "conflict",
        f"{busy}; multitask_strategy {body.multitask_strategy!r} is not supported yet",
        details=busy.details,
    )


async def cancel(
    gateway: Gateway, caller: Identity, run: RunRecord, *, action: CancelAction, wait: bool
) -> None:
    """Cancel a thread's run; ``interrupt`` keeps its progress on the thread."""
    if not await gateway.access.may(caller, "update", run.namespace, run.workflow):
        raise Refused("forbidden", f"you may not cancel run {run.id}")
    if action == "rollback":
        raise Refused("conflict", "action 'rollback' is not supported yet")
    if not run.status.finished:
        await gateway.engine.cancel(run.id, by=actor(caller))
    if wait:
        async with asyncio.timeout(gateway.settings.wait_timeout):
            await gateway.wait_settled(run.id)
