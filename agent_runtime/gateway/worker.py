"""Workers that claim runs from the store (leases) and execute them, a bounded number at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from agent_runtime.engine import Engine, RunError
from agent_runtime.engine.observe import lease_takeover
from agent_runtime.stores import RunRecord, RunStatus, StoreError

log = logging.getLogger(__name__)


class RunWorker:
    """Claims queued runs (and runs whose owner died) until stopped.

    A run created by this replica wakes it at once; runs queued elsewhere or orphaned by a dead
    replica are found by polling every ``poll_interval`` seconds.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        concurrency: int,
        poll_interval: float,
        max_per_namespace: int = 0,
    ) -> None:
        """``max_per_namespace``: a namespace's runs in flight across replicas (0: no cap)."""
        self.engine = engine
        self.poll_interval = poll_interval
        self.max_per_namespace = max_per_namespace
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        #: Runs this worker executes now. Its own lease on one may lapse while the store is
        #: down, and the run be claimed again by this same process: executing it twice at
        #: once cannot be fenced off (both write as the same owner), so the claim is left to
        #: the execution already under way, which renews the lease.
        self._executing: set[str] = set()
        self._loop: asyncio.Task[None] | None = None
        #: Told the id of each run this worker stopped executing (finished, interrupted,
        #: waiting), with the run as it settled (None when its execution failed here).
        self.on_settled: Callable[[str, RunRecord | None], None] = lambda _id, _run: None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._claim_loop(), name="run-worker")

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    async def _claim_loop(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                run = await self.engine.store.claim_run(
                    owner=self.engine.owner,
                    ttl=self.engine.lease_ttl,
                    max_per_namespace=self.max_per_namespace,
                )
            except StoreError as exc:
                log.warning("cannot claim runs: %s", exc)
                run = None
            except Exception:
                log.exception("claiming runs failed")
                run = None
            if run is None:
                self._slots.release()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._wake.wait()
                continue
            if run.id in self._executing:
                log.warning("run %s: claimed again while this process executes it", run.id)
                self._slots.release()
                continue
            if run.status == RunStatus.RUNNING:  # its owner's lease expired: a takeover
                lease_takeover()
            self._executing.add(run.id)
            task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, run: RunRecord) -> None:
        run_id, done = run.id, None
        try:
            done = await self.engine.execute(run_id, claimed=run)
        except RunError as exc:
            log.info("run %s not executed here: %s", run_id, exc)
        except StoreError as exc:
            log.warning("run %s: store failed: %s; another worker will take it over", run_id, exc)
        except Exception:
            log.exception("run %s: unexpected failure", run_id)
        finally:
            self._executing.discard(run_id)
            self.on_settled(run_id, done)
            self._slots.release()
            self._wake.set()  # a freed slot may take the next queued run at once

    async def stop(self, *, grace: float = 10.0) -> None:
        """Stop claiming; give running runs ``grace`` seconds, then cancel them (leases expire)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._running:
            _, pending = await asyncio.wait(set(self._running), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
