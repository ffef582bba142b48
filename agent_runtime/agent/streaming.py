"""A task's answer as it is written: NDJSON lines of the model's text, then the outcome.

Asked for with ``Accept: application/x-ndjson`` on ``POST /v1/tasks``. Refusals (401, 429 at
``maxConcurrentTasks``, 503 draining, 409, 422 for a body that is not a task) are answered as
without it, with their status, before anything is streamed; once the task runs, the answer is
200 and each line is one JSON object:

- ``{"delta": {"text": ..., "message": N}}``: a piece of the model's text (``TaskDelta``);
- ``{"result": {...}}``: the ``TaskResult``, last;
- ``{"error": {"code": "task_failed" | "task_permanent", "message": ...}}``: the task failed,
  last (the codes and meanings of the JSON answers' errors).

A stream that ends with neither is an agent gone mid-task (``AgentLost`` at the engine).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

from agent_runtime.executors import (
    TASK_STREAM_MEDIA_TYPE,
    PermanentTaskError,
    TaskDelta,
    TaskError,
    TaskNotStarted,
    TaskResult,
)

MEDIA_TYPE = TASK_STREAM_MEDIA_TYPE

_END = object()


def wanted(accept: str | None) -> bool:
    """Whether the request asks for the stream (its ``Accept`` names the NDJSON type)."""
    return accept is not None and MEDIA_TYPE in accept.lower()


class DeltaQueue:
    """Pieces told by the task (in its own ``asyncio.Task``), read by the response."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    async def put(self, delta: TaskDelta) -> None:
        self._queue.put_nowait(delta)

    def end(self, _: object = None) -> None:
        self._queue.put_nowait(_END)

    async def pieces(self) -> AsyncIterator[TaskDelta]:
        while (item := await self._queue.get()) is not _END:
            assert isinstance(item, TaskDelta)
            yield item


def line(key: str, value: object) -> bytes:
    return json.dumps({key: value}, separators=(",", ":")).encode() + b"\n"


def error_line(exc: BaseException) -> bytes:
    """The last line of a failed task: its error code as the JSON answers would give it."""
    if isinstance(exc, PermanentTaskError | TaskNotStarted):
        code = exc.code
    elif isinstance(exc, TaskError):
        code = "task_failed"
    else:
        code = "internal"
    message = str(exc) if isinstance(exc, TaskError) else "internal error; see the agent's log"
    return line("error", {"code": code, "message": message or "the task failed"})


async def lines(
    outcome: asyncio.Future[TaskResult],
    deltas: DeltaQueue,
    finish: Callable[[TaskResult | None, BaseException | None], None],
) -> AsyncIterator[bytes]:
    """The response body; ``finish`` is told the outcome (or a client gone: both None)."""
    result: TaskResult | None = None
    failure: BaseException | None = None
    try:
        async for delta in deltas.pieces():
            yield line("delta", delta.model_dump(mode="json", by_alias=True))
        try:
            result = await outcome
        except Exception as exc:
            failure = exc
            yield error_line(exc)
        else:
            yield b'{"result":' + result.model_dump_json(by_alias=True).encode() + b"}\n"
    finally:
        finish(result, failure)
