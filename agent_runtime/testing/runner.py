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
from typing import Any, Self, TypedDict, Unpack

from agent_runtime.engine import Engine, LocalDispatcher
from agent_runtime.engine.approvals import ApprovalInput
from agent_runtime.executors import TaskExecutor
from agent_runtime.policy import ToolPolicy, load_policy
from agent_runtime.spec import Workflow
from agent_runtime.stores import RunRecord, open_store
from agent_runtime.testing.answers import load_workflow, with_answers
from agent_runtime.testing.result import RunResult

WorkflowSource = Workflow | str | os.PathLike[str]


class RunnerOptions(TypedDict, total=False):
    """How a runner runs its Workflow; every option may be left out."""

    #: Scripted answers of llm nodes, by node name: one per visit, the last repeats; a string is
    #: the text answer, a mapping the structured output, ``{"toolCalls": [{"name", "args"}]}``
    #: asks for tools (as the ``scripted`` provider reads them).
    answers: Mapping[str, Sequence[Any]]
    #: Which Workflow of a file that holds several.
    name: str
    #: Any store URL (``sqlite:///:memory:``...); by default SQLite in a temporary folder.
    store: str
    #: The platform tool policy; by default the ``local`` preset and the environment's settings.
    policy: ToolPolicy
    #: Let llm nodes without ``answers`` call the models they name, vendors included.
    allow_network: bool


class Decision(TypedDict, total=False):
    """A person's approval: a ``reason``, ``calls`` denied or approved one by one (by id), the
    ``result`` of a call whose outcome is unknown."""

    reason: str
    calls: dict[str, bool]
    result: Any


class AsyncWorkflowRunner:
    """Runs one Workflow for the ``async with`` block, with agents in this process, its llm
    nodes answered as ``options`` script them (see ``RunnerOptions``)."""

    def __init__(self, workflow: WorkflowSource, **options: Unpack[RunnerOptions]) -> None:
        #: The Workflow as it runs, with the scripted models of ``answers`` in it.
        self.workflow = with_answers(
            load_workflow(workflow, options.get("name")),
            options.get("answers", {}),
            allow_network=options.get("allow_network", False),
        )
        self._store_url = options.get("store")
        self._policy = options.get("policy")
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

    async def __aexit__(self, *exc_info: object) -> None:
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

    async def approve(self, run: RunResult | str, /, **decision: Unpack[Decision]) -> RunResult:
        """Approve what the run waits for (but the ``calls`` denied) and go on."""
        return await self._decide(_id(run), ApprovalInput(approved=True, **decision))

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

    def __init__(self, workflow: WorkflowSource, **options: Unpack[RunnerOptions]) -> None:
        self.runner = AsyncWorkflowRunner(workflow, **options)
        self._loop: asyncio.Runner | None = None

    @property
    def workflow(self) -> Workflow:
        return self.runner.workflow

    def __enter__(self) -> Self:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # no loop running here: the block gets its own
        else:
            raise RuntimeError(
                "WorkflowRunner runs its own event loop; in async code use AsyncWorkflowRunner"
            )
        loop = asyncio.Runner()
        try:
            loop.run(self.runner.__aenter__())
        except BaseException:
            loop.close()
            raise
        self._loop = loop
        return self

    def __exit__(self, *exc_info: object) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                loop.run(self.runner.__aexit__(*exc_info))
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

    def approve(self, run: RunResult | str, /, **decision: Unpack[Decision]) -> RunResult:
        """See ``AsyncWorkflowRunner.approve``."""
        return self._in_loop().run(self.runner.approve(run, **decision))

    def deny(self, run: RunResult | str, /, *, reason: str = "") -> RunResult:
        """See ``AsyncWorkflowRunner.deny``."""
        return self._in_loop().run(self.runner.deny(run, reason=reason))


def _id(run: RunResult | str) -> str:
    return run if isinstance(run, str) else run.id
