"""What the stores' own LangGraph savers share: a durable step is one commit.

``aput_writes`` stages a task's writes and waits; the next ``aput`` of the same thread commits
them with its checkpoint (the backend adds the step records and events the engine handed over).
The writes that checkpoint was made from are not stored: LangGraph reads a checkpoint's pending
writes only to go on from it, and it never goes on from a superseded one. Writes that no
checkpoint follows soon (a fan-out branch finishing while others still run, an interrupt, an
error) are committed after ``WRITES_FLUSH_DELAY``; ``aput_writes`` returns only once they are
committed, which is when LangGraph counts them durable. A run's input checkpoint waits for its
first step (lost in a crash before that, the input is given again from the run record); reads
of a thread commit it first.
"""

from __future__ import annotations

import asyncio
import json
from abc import abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_serializable_checkpoint_metadata,
)

from agent_runtime.stores.errors import StoreError

#: Seconds staged writes wait for the checkpoint that would carry them before going alone.
WRITES_FLUSH_DELAY = 0.005


@dataclass
class PendingCheckpoint:
    """A checkpoint to write: serialised state, metadata as LangGraph keeps it."""

    thread_id: str
    ns: str
    checkpoint_id: str
    parent: str | None
    kind: str
    data: bytes
    metadata: dict[str, Any]


@dataclass
class TaskWrites:
    """What one ``aput_writes`` call was given, serialised only if it is written."""

    ns: str
    checkpoint_id: str
    task_id: str
    task_path: str
    writes: Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class Listing:
    """What ``alist`` was asked for: a thread (or all), metadata to match, older than, how many."""

    config: RunnableConfig | None
    filter: dict[str, Any] | None
    before: RunnableConfig | None
    limit: int | None


@dataclass
class _Staged:
    """Writes of one thread waiting for a commit; ``done`` resolves when they are durable."""

    writes: list[TaskWrites]
    done: asyncio.Future[None]
    timer: asyncio.TimerHandle | None = None


def config_of(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


class CoalescingSaver(BaseCheckpointSaver[Any]):
    """A saver whose backend commits a step's checkpoints and writes at once (``_write_step``)."""

    def __init__(self) -> None:
        super().__init__()
        self._staged: dict[str, _Staged] = {}
        self._inputs: dict[str, list[PendingCheckpoint]] = {}
        #: Threads known to have no checkpoint yet (``expect_new``): their first read is skipped.
        self._new: set[str] = set()

    @abstractmethod
    async def _prune(self, thread_ids: list[str], strategy: str) -> None:
        """Delete the threads' checkpoints (``delete``) or all but each namespace's newest."""

    def expect_new(self, thread_id: str) -> None:
        """The thread has no checkpoint (a run about to start for the first time, under its
        lease): the read LangGraph makes before its input checkpoint is answered without a
        round trip. Only that one read: every later one goes to the store."""
        self._new.add(thread_id)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(config["configurable"]["thread_id"])
        if thread_id in self._new:
            self._new.discard(thread_id)
            if thread_id not in self._inputs:
                return None
        await self._before_reading(thread_id)
        return await self._read_one(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # noqa: A002 - LangGraph's signature
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        await self._before_reading(str(config["configurable"]["thread_id"]) if config else None)
        for found in await self._read_many(Listing(config, filter, before, limit)):
            yield found

    @abstractmethod
    async def _read_one(self, config: RunnableConfig) -> CheckpointTuple | None:
        """``aget_tuple`` once what waits for the thread is committed."""

    @abstractmethod
    async def _read_many(self, listing: Listing) -> list[CheckpointTuple]:
        """``alist``'s tuples, newest first, once what waits is committed."""

    async def adelete_thread(self, thread_id: str) -> None:
        await self.aprune([str(thread_id)], strategy="delete")

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``delete``: every checkpoint and write of the threads. ``keep_latest``: the newest
        checkpoint of each namespace and its writes stay (with no parent left)."""
        if isinstance(thread_ids, str):
            raise TypeError("thread_ids must be a sequence of thread IDs, not a str")
        if strategy not in ("delete", "keep_latest"):
            raise ValueError(f"Unknown prune strategy: {strategy!r}")
        ids = [str(t) for t in thread_ids]
        for thread_id in ids:
            await self._before_reading(thread_id)
        if ids:
            await self._prune(ids, strategy)

    def checkpoint_tuple(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        parent: str | None,
        checkpoint: tuple[str, bytes],
        metadata: str,
        writes: list[tuple[str, str, Any]],
    ) -> CheckpointTuple:
        """A stored checkpoint as LangGraph reads it: state and metadata (JSON) as kept."""
        return CheckpointTuple(
            config=config_of(thread_id, ns, checkpoint_id),
            checkpoint=self.serde.loads_typed(checkpoint),
            metadata=json.loads(metadata),
            parent_config=config_of(thread_id, ns, parent) if parent else None,
            pending_writes=writes,
        )

    @abstractmethod
    async def _write_step(
        self, thread_id: str, checkpoints: list[PendingCheckpoint], writes: list[TaskWrites]
    ) -> None:
        """One commit: the writes, the checkpoints (oldest first), whatever the run adds."""

    def pending(
        self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata
    ) -> PendingCheckpoint:
        conf = config["configurable"]
        kind, data = self.serde.dumps_typed(checkpoint)
        parent = conf.get("checkpoint_id")
        return PendingCheckpoint(
            thread_id=str(conf["thread_id"]),
            ns=str(conf.get("checkpoint_ns", "")),
            checkpoint_id=checkpoint["id"],
            parent=str(parent) if parent else None,
            kind=kind,
            data=data,
            metadata=dict(get_serializable_checkpoint_metadata(config, metadata)),
        )

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        cp = self.pending(config, checkpoint, metadata)
        if metadata.get("source") == "input":
            self._inputs.setdefault(cp.thread_id, []).append(cp)
            return config_of(cp.thread_id, cp.ns, cp.checkpoint_id)
        staged = self._take(cp.thread_id)
        others = [
            w
            for w in (staged.writes if staged else [])
            if (w.ns, w.checkpoint_id) != (cp.ns, cp.parent)
        ]
        try:
            await self._commit(cp.thread_id, cp, others)
        except BaseException as exc:
            if staged:
                _settle(staged.done, exc)
            raise
        if staged:
            _settle(staged.done, None)
        return config_of(cp.thread_id, cp.ns, cp.checkpoint_id)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        conf = config["configurable"]
        thread_id = str(conf["thread_id"])
        ns, checkpoint_id = str(conf.get("checkpoint_ns", "")), str(conf["checkpoint_id"])
        staged = self._staged.get(thread_id)
        if staged is None:
            loop = asyncio.get_running_loop()
            staged = self._staged[thread_id] = _Staged([], loop.create_future())
            staged.timer = loop.call_later(WRITES_FLUSH_DELAY, self._flush_later, thread_id)
        staged.writes.append(TaskWrites(ns, checkpoint_id, task_id, task_path, writes))
        await asyncio.shield(staged.done)

    async def _commit(
        self, thread_id: str, checkpoint: PendingCheckpoint | None, writes: list[TaskWrites]
    ) -> None:
        inputs = self._inputs.pop(thread_id, [])
        try:
            await self._write_step(
                thread_id, [*inputs, *([checkpoint] if checkpoint else [])], writes
            )
        except BaseException:
            if inputs:  # for the next commit of the thread
                self._inputs[thread_id] = inputs + self._inputs.get(thread_id, [])
            raise

    def _take(self, thread_id: str) -> _Staged | None:
        staged = self._staged.pop(thread_id, None)
        if staged is not None and staged.timer is not None:
            staged.timer.cancel()
        return staged

    def _flush_later(self, thread_id: str) -> None:
        staged = self._take(thread_id)
        if staged is not None:
            task = asyncio.get_running_loop().create_task(self._flush(thread_id, staged))
            staged.done.add_done_callback(lambda _: task)  # keep a reference until it is done

    async def _flush(self, thread_id: str, staged: _Staged) -> None:
        try:
            await self._commit(thread_id, None, staged.writes)
        except BaseException as exc:
            _settle(staged.done, exc)
        else:
            _settle(staged.done, None)

    def _waiting(self, thread_id: str) -> bool:
        """Whether anything waits to be committed for the thread (backends add their own)."""
        return thread_id in self._inputs

    async def flush(self, thread_id: str) -> None:
        """Commit what waits for ``thread_id`` now."""
        staged = self._take(thread_id)
        if staged is not None:
            await self._flush(thread_id, staged)
            await staged.done
        elif self._waiting(thread_id):
            await self._commit(thread_id, None, [])

    def forget(self, thread_id: str) -> None:
        """Drop what waits for a run this process stops executing (after a failed ``flush``, or
        a lost lease): nothing of it is written, and whoever waits for staged writes is told."""
        self._inputs.pop(thread_id, None)
        self._new.discard(thread_id)
        staged = self._take(thread_id)
        if staged is not None:
            _settle(staged.done, StoreError(f"run {thread_id!r} is no longer executed here"))

    async def _before_reading(self, thread_id: str | None) -> None:
        """Reads see every checkpoint put so far (``None``: of every thread)."""
        for waiting in [thread_id] if thread_id is not None else list(self._inputs):
            if waiting in self._inputs:
                await self._commit(waiting, None, [])


def _settle(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)
        future.exception()  # retrieved: a flush nobody waits for any more is not an error
