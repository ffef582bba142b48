"""Double texting through the LangGraph API: a run on a thread as its ``multitask_strategy``
says (``gateway.double_texting``), and cancelling a thread's run (``action``).

``reject`` answers 409 naming the thread and the run holding it; ``enqueue`` (LangGraph's
default) starts the new run once the runs before it are done; ``interrupt`` and ``rollback``
stop them (keeping, or erasing, what they did) and then start it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Literal

from agent_runtime.auth import Identity
from agent_runtime.gateway import double_texting
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import Refused, start_run
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunRecord

CancelAction = Literal["interrupt", "rollback"]


async def start(
    gateway: Gateway,
    caller: Identity,
    workflow: Workflow,
    given: Mapping[str, Any],
    thread_id: str,
    strategy: double_texting.Strategy,
) -> RunRecord:
    """A new run on the thread; while another run holds it, as ``strategy`` says."""
    await double_texting.may_use(gateway, caller, workflow.namespace, workflow.name, strategy)
    run = await start_run(
        gateway, caller, workflow, given, thread_id=thread_id, enqueue=strategy != "reject"
    )
    await double_texting.make_way(gateway, caller, run, strategy)
    return run


async def cancel(
    gateway: Gateway, caller: Identity, run: RunRecord, *, action: CancelAction, wait: bool
) -> None:
    """Cancel a thread's run; ``interrupt`` keeps its progress on the thread, ``rollback``
    erases the run and leaves the thread as it was before it."""
    if not await gateway.access.may(caller, "update", run.namespace, run.workflow):
        raise Refused("forbidden", f"you may not cancel run {run.id}")
    if action == "rollback":
        if run.status.finished:
            raise Refused(
                "conflict", f"run {run.id!r} is {run.status.value}: only an active run rolls back"
            )
        await double_texting.stop(gateway, caller, run.id, erase=True)
        gateway.worker.wake()
        return  # nothing is left to wait for
    if not run.status.finished:
        await double_texting.stop(gateway, caller, run.id, erase=False)
        gateway.worker.wake()
    if wait:
        async with asyncio.timeout(gateway.settings.wait_timeout):
            await gateway.wait_settled(run.id)
