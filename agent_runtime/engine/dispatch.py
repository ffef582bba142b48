"""Where node tasks go: in-process executors here, agent pods over HTTP in a cluster."""

from __future__ import annotations

from typing import Protocol

from agent_runtime.executors import NodeTask, OnDelta, TaskExecutor, TaskResult


class Dispatcher(Protocol):
    async def dispatch(self, task: NodeTask, *, on_delta: OnDelta | None = None) -> TaskResult:
        """The task's result; with ``on_delta``, its model's text is told as it is written."""
        ...

    async def aclose(self) -> None: ...


class LocalDispatcher:
    """Executes tasks in this process, with the same executors agent pods use."""

    def __init__(self, executor: TaskExecutor | None = None) -> None:
        self.executor = executor or TaskExecutor()

    async def dispatch(self, task: NodeTask, *, on_delta: OnDelta | None = None) -> TaskResult:
        return await self.executor.execute(task, on_delta=on_delta)

    async def aclose(self) -> None:
        await self.executor.aclose()
