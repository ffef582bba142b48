"""A model's answer as it is written: ``node.delta`` events, batched in time.

Each piece of text an llm task streams would be one event write if written as it came; a
500-token answer would be 500 writes. ``DeltaWriter`` writes the first piece at once (the time
to the first token is what a person waits for), then what came in each ``interval`` as one
event (per message: a round of tool calls has its own). An answer whose every piece came before
the first write could start is not written at all: its node's ``node.finished`` carries it
whole, and readers (the LangGraph relay, the OpenAI stream) send it whole when no delta of its
message id came. Deltas are events only, never checkpoints: a step is checkpointed once, when it
is done. Writes run in the node's context, so a process that lost the run's lease is refused
(``LeaseLost``), which the next piece (or ``close``) raises to the node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from agent_runtime.executors import TaskDelta

#: Seconds of text per ``node.delta`` event (the gateway's ``delta_interval`` setting).
DELTA_INTERVAL = 0.1

#: Writes one event: (message position, text) -> its data is the writer's to make.
Write = Callable[[int, str], Awaitable[None]]


class DeltaWriter:
    """Batches one node attempt's text pieces into events; see the module docstring."""

    def __init__(self, write: Write, interval: float) -> None:
        self._write_one = write
        self.interval = interval
        self._pending: list[tuple[int, str]] = []
        self._writing: asyncio.Task[None] | None = None
        self._began = False
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._written = 0
        self._error: BaseException | None = None

    async def add(self, delta: TaskDelta) -> None:
        """Take a piece; its write starts now or when the interval since the last one ends."""
        if self._error is not None:
            raise self._error
        if self._pending and self._pending[-1][0] == delta.message:
            self._pending[-1] = (delta.message, self._pending[-1][1] + delta.text)
        else:
            self._pending.append((delta.message, delta.text))
        if self._writing is not None or self._timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last + self.interval - loop.time() if self._written else 0.0
        if wait <= 0:
            self._start()
        else:
            self._timer = loop.call_later(wait, self._start)

    def _start(self) -> None:
        self._timer = None
        if self._pending and self._writing is None and self._error is None:
            self._began = False
            self._writing = asyncio.get_running_loop().create_task(self._flush())
            self._writing.add_done_callback(_retrieve)

    async def _flush(self) -> None:
        self._began = True
        batch, self._pending = self._pending, []
        try:
            for message, text in batch:
                await self._write_one(message, text)
                self._written += 1
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._last = asyncio.get_running_loop().time()
            self._writing = None
        if self._pending:  # pieces came during the write: they wait for the interval
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._start)

    async def close(self) -> None:
        """The answer is complete: write what is left, unless nothing was written at all."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        writing = self._writing
        if writing is not None and not self._began:
            writing.cancel()  # not begun: it took none of the pending pieces
            self._writing = None
        elif writing is not None:
            await asyncio.wait({writing})
        if self._error is not None:
            raise self._error
        if self._written and self._pending:
            self._began = True
            await self._flush()
        self._pending = []

    def abandon(self) -> None:
        """The attempt failed: nothing more is written (a write under way ends on its own)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._writing is not None and not self._began:
            self._writing.cancel()
        self._pending = []


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
