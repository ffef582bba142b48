"""Double texting: a run started on a thread another run holds, as LangGraph's four multitask
strategies say, for the Runs API (``multitaskStrategy``) and the LangGraph API alike.

``reject`` answers 409 naming the thread and the run holding it. The others create the run
queued on the thread (``stores.thread_rules``: parked in the thread's queue, in the write that
creates it, so it starts after the runs before it whichever replica claims it). ``enqueue``
stops there. ``interrupt`` then cancels the runs before it, the holder keeping its progress on
the thread, and ``rollback`` cancels them leaving the thread as it was and erases them. The
cancel that lets the thread go hands it to the new run in the same transaction, and ends the
cancelled run's lease there too: a replica still executing it can write nothing more (fenced
writes), neither on the run nor on the thread, by the time the new run can be claimed.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from agent_runtime.auth import Identity
from agent_runtime.engine.errors import RunError
from agent_runtime.gateway.access import actor
from agent_runtime.gateway.components import Gateway
from agent_runtime.gateway.launch import Refused
from agent_runtime.stores import RunRecord, RunStatus, RunStore
from agent_runtime.stores.errors import RunNotFound
from agent_runtime.stores.thread_rules import PARKED

Strategy = Literal["reject", "enqueue", "interrupt", "rollback"]
#: The strategies that stop the runs before the new one.
STOPPING = ("interrupt", "rollback")
#: How often a stream of a run queued on its thread looks whether its turn came (seconds).
TURN_POLL = 0.25


async def may_use(
    gateway: Gateway, caller: Identity, namespace: str, name: str, strategy: Strategy
) -> None:
    """Refuse a strategy that cancels runs to a caller who may not cancel them (before anything
    is written)."""
    if strategy in STOPPING and not await gateway.access.may(caller, "update", namespace, name):
        raise Refused(
            "forbidden",
            f"multitask strategy {strategy!r} cancels the thread's active run: you may not "
            f"cancel runs of {namespace}/{name}",
        )


async def make_way(gateway: Gateway, caller: Identity, run: RunRecord, strategy: Strategy) -> None:
    """After ``run`` was created (queued when its thread was held): with ``interrupt`` or
    ``rollback``, stop the runs ahead of it, the waiting ones first so that none of them gets
    the thread, then its holder. A run that finished meanwhile stays as it ended."""
    if strategy not in STOPPING or run.thread_id is None or run.lease_expires_at != PARKED:
        return
    thread = await gateway.store.get_thread(run.thread_id)
    ahead = thread.queue[: thread.queue.index(run.id)] if run.id in thread.queue else []
    if thread.active_run_id not in (None, run.id):
        ahead.append(thread.active_run_id)
    for victim in ahead:
        await stop(gateway, caller, victim, erase=strategy == "rollback")
    gateway.worker.wake()  # the thread is the new run's now: this replica may claim it


async def stop(gateway: Gateway, caller: Identity, run_id: str, *, erase: bool) -> bool:
    """Cancel a run (keeping its progress on its thread, or ``erase``: leaving the thread as it
    was and deleting the run); False when it had finished already."""
    try:
        await gateway.engine.cancel(run_id, by=actor(caller), keep=not erase)
    except RunError:  # finished (or cancelled by another) meanwhile
        return False
    except RunNotFound:
        return False
    if erase:
        await gateway.store.erase_run(run_id)
    return True


async def its_turn(store: RunStore, run: RunRecord) -> RunRecord:
    """The run once it no longer waits its turn on its thread (at once if it never did): from
    then on, the thread's values are the state it starts from."""
    while run.status == RunStatus.QUEUED and run.lease_expires_at == PARKED:
        await asyncio.sleep(TURN_POLL)
        try:
            run = await store.get_run(run.id)
        except RunNotFound:  # rolled back while it waited
            break
    return run
