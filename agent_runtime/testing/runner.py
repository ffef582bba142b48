"""Run a Workflow in your own tests: in-process agents, scripted answers, a throwaway store.

The engine, the executors and the store are the ones a real run uses (what ``configurable-agents
run`` does on your machine); only the models are scripted, so a test checks the Workflow itself:
its templates, branches, reducers, tools and human nodes, offline and in milliseconds.

    with WorkflowRunner("workflow.yaml", answers={"write": ["A brief."]}) as runner:
        result = runner.run(topic="leases")
    assert result.output == {"draft": "A brief."}
    assert result.nodes == ["research", "write"]

``AsyncWorkflowRunner`` is the same for ``async`` tests (``async with``, ``await runner.run``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.executors import TaskExecutor
from agent_runtime.policy import ToolPolicy, load_policy
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunRecord, open_store
from agent_runtime.testing.answers import load_workflow, with_answers
from agent_runtime.testing.result import RunResult

WorkflowSource = Workflow | str | os.PathLike[str]


class AsyncWorkflowRunner:
    """Runs one Workflow for the ``async with`` block, over a SQLite store in a temporary folder
    (or the store at ``store``, any store URL), with agents in this process.

    ``answers`` scripts llm nodes by name: one answer per visit, the last repeats; a string is
    the text answer, a mapping the structured output, ``{"toolCalls": [{"name", "args"}]}``
    asks for tools (as the ``scripted`` provider reads them). Tools run under the ``local``
    platform policy unless ``policy`` says otherwise.
    """

    def __init__(
        self,
        workflow: WorkflowSource,
        *,
        answers: Mapping[str, Sequence[Any]] | None = None,
        name: str | None = None,
        store: str | None = None,
        policy: ToolPolicy | None = None,
        allow_network: bool = False,
    ) -> None:
        #: The Workflow as it runs, with the scripted models of ``answers`` in it.
        self.workflow = with_answers(
            load_workflow(workflow, name), answers or {}, allow_network=allow_network
        )
        self._store_url = store
        self._policy = policy
        self._stack: AsyncExitStack | None = None
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        """The engine of the block, for what the runner does not wrap (``engine.store``...)."""
        if self._engine is None:
            raise RuntimeError("the runner runs workflows only inside its `with` block")
        return self._engine

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            url = self._store_url
            if url is None:
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="workflow-test-"))
                url = f"sqlite:///{folder}/runs.db"
            policy = self._policy or load_policy(default="local")
            dispatcher = LocalDispatcher(TaskExecutor(policy=policy))
            stack.push_async_callback(dispatcher.aclose)
            store = await stack.enter_async_context(open_store(url))
            self._engine = Engine(store, dispatcher)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._engine = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def run(self, given: Mapping[str, Any] | None = None, /, **fields: Any) -> RunResult:
        """Start a run with this input (``given`` and ``fields`` together) and run it until it
        finishes or waits; bad input raises InputError naming each field."""
        run = await self.engine.create_run(self.workflow, {**(given or {}), **fields})
        return await self._result(await self.engine.execute(run.id))

    async def resume(self, run: RunResult | str, /, **answer: Any) -> RunResult:
        """Answer the human node the run waits at (its declared fields) and go on."""
        return await self._result(await self.engine.resume(_id(run), answer))

    async def approve(
        self,
        run: RunResult | str,
        /,
        *,
        reason: str = "",
        calls: Mapping[str, bool] | None = None,
        result: Any = None,
    ) -> RunResult:
        """Approve what the run waits for and go on; ``calls`` may deny some calls (by id),
        ``result`` answers a call whose outcome is unknown."""
        decision = ApprovalInput(
            approved=True, reason=reason, calls=dict(calls or {}), result=result
        )
        return await self._decide(_id(run), decision)

    async def deny(self, run: RunResult | str, /, *, reason: str = "") -> RunResult:
        """Deny what the run waits for and go on (the model hears why; a tool node fails)."""
        return await self._decide(_id(run), ApprovalInput(approved=False, reason=reason))

    async def _decide(self, run_id: str, decision: ApprovalInput) -> RunResult:
        await self.engine.queue_approval(run_id, decision)
        return await self._result(await self.engine.execute(run_id))

    async def _result(self, run: RunRecord) -> RunResult:
        store = self.engine.store
        return RunResult(run, await store.list_steps(run.id), await store.list_events(run.id))


class WorkflowRunner:
    """``AsyncWorkflowRunner`` for synchronous tests: the ``with`` block has its own event loop
    (so it cannot be used inside a running one: use the async runner there)."""

    def __init__(
        self,
        workflow: WorkflowSource,
        *,
        answers: Mapping[str, Sequence[Any]] | None = None,
        name: str | None = None,
        store: str | None = None,
        policy: ToolPolicy | None = None,
        allow_network: bool = False,
    ) -> None:
        self.runner = AsyncWorkflowRunner(
            workflow,
            answers=answers,
            name=name,
            store=store,
            policy=policy,
            allow_network=allow_network,
        )
        self._loop: asyncio.Runner | None = None

    @property
    def workflow(self) -> Workflow:
        return self.runner.workflow

    def __enter__(self) -> Self:
        loop = asyncio.Runner()
        try:
            loop.run(self.runner.__aenter__())
        except BaseException:
            loop.close()
            raise
        self._loop = loop
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                loop.run(self.runner.__aexit__(exc_type, exc, tb))
            finally:
                loop.close()

    def _in_loop(self) -> asyncio.Runner:
        if self._loop is None:
            raise RuntimeError("the runner runs workflows only inside its `with` block")
        return self._loop

    def run(self, given: Mapping[str, Any] | None = None, /, **fields: Any) -> RunResult:
        """See ``AsyncWorkflowRunner.run``."""
        return self._in_loop().run(self.runner.run(given, **fields))

    def resume(self, run: RunResult | str, /, **answer: Any) -> RunResult:
        """See ``AsyncWorkflowRunner.resume``."""
        return self._in_loop().run(self.runner.resume(run, **answer))

    def approve(
        self,
        run: RunResult | str,
        /,
        *,
        reason: str = "",
        calls: Mapping[str, bool] | None = None,
        result: Any = None,
    ) -> RunResult:
        """See ``AsyncWorkflowRunner.approve``."""
        return self._in_loop().run(
            self.runner.approve(run, reason=reason, calls=calls, result=result)
        )

    def deny(self, run: RunResult | str, /, *, reason: str = "") -> RunResult:
        """See ``AsyncWorkflowRunner.deny``."""
        return self._in_loop().run(self.runner.deny(run, reason=reason))


def _id(run: RunResult | str) -> str:
    return run if isinstance(run, str) else run.id
