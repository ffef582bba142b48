"""A run's lease: which process executes it, until when, and keeping it while it does.

The store holds the lease (``lease_owner``, ``lease_expires_at``); a process that starts a run
takes it with the run's transition to running and renews it every third of its time to live.
Another process may take a run over only once the lease expired or its owner is known dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

from agent_runtime.engine.errors import RunError
from agent_runtime.stores import RunRecord, RunStatus, RunStore, StoreError
from agent_runtime.stores.records import utcnow

log = logging.getLogger(__name__)


def local_owner() -> str:
    """This process, as a lease owner: ``host/pid``."""
    return f"{socket.gethostname()}/{os.getpid()}"


def _owner_is_dead(owner: str) -> bool:
    """A lease held by a process of this host that no longer exists can be taken at once."""
    host, _, pid = owner.partition("/")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def taken_over(run: RunRecord, owner: str) -> bool:
    """``owner`` goes on with a run another process was executing (its lease ran out)."""
    return run.status == RunStatus.RUNNING and run.lease_owner not in (None, owner)


def check_free(run: RunRecord, owner: str) -> None:
    """Raise ``leased`` if another live process holds the run's lease now."""
    if (
        taken_over(run, owner)
        and run.lease_expires_at is not None
        and run.lease_expires_at > utcnow()
        and not _owner_is_dead(run.lease_owner or "")
    ):
        raise RunError(
            f"run {run.id!r} is being executed by {run.lease_owner} (lease until "
            f"{run.lease_expires_at:%H:%M:%S} UTC)",
            code="leased",
        )


class LeaseRenewal:
    """Renews the lease of a run this process executes; cancels the execution if it is lost."""

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        *,
        owner: str,
        ttl: float,
        execution: asyncio.Task[Any] | None = None,
    ) -> None:
        """Renew from now on; ``execution`` (the current task unless given) is cancelled when
        the lease is lost."""
        self.store = store
        self.run_id = run_id
        self.owner = owner
        self.ttl = ttl
        #: Wall-clock time (``time.time()``) until which the lease is known to hold: its last
        #: renewal's request time plus its time to live. (Before the first renewal: now plus
        #: the time to live, as the lease was just taken or renewed.)
        self.holds_until = time.time() + ttl
        self._task = asyncio.create_task(self._renew(execution or asyncio.current_task()))

    @property
    def lost(self) -> bool:
        """The store refused a renewal, or none got through before the lease ran out: another
        process may execute the run now."""
        task = self._task
        if not task.done() or task.cancelled() or task.exception() is not None:
            return False
        return task.result() is False

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    async def _renew(self, execution: asyncio.Task[Any] | None) -> bool:
        loop = asyncio.get_running_loop()
        held_until = loop.time() + self.ttl
        while True:
            await asyncio.sleep(self.ttl / 3)
            asked, asked_wall = loop.time(), time.time()
            try:
                renewed = await self.store.renew_lease(self.run_id, owner=self.owner, ttl=self.ttl)
            except StoreError as exc:
                renewed = loop.time() < held_until  # keep trying while the lease still holds
                log.warning("run %s: cannot renew the lease: %s", self.run_id, exc)
            except Exception:
                log.exception("run %s: renewing the lease failed; stopping", self.run_id)
                renewed = False
            else:
                if renewed:
                    held_until, self.holds_until = asked + self.ttl, asked_wall + self.ttl
            if not renewed:
                log.warning("run %s: lease lost; stopping", self.run_id)
                if execution is not None:
                    execution.cancel()
                return False
