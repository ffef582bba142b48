"""The agent's ASGI app: ``create_app(settings)``; nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from agent_runtime.agent import errors
from agent_runtime.agent.membership import Membership
from agent_runtime.agent.routes import health, tasks
from agent_runtime.agent.runner import TaskRunner
from agent_runtime.agent.settings import AgentSettings
from agent_runtime.agent.task_auth import GatewayOnly
from agent_runtime.executors import TaskExecutor
from agent_runtime.telemetry.metrics import AgentMetrics, ExecutorMetrics, own_registry

log = logging.getLogger(__name__)


def create_app(settings: AgentSettings, *, executor: TaskExecutor | None = None) -> FastAPI:
    """The agent server's app; its executor (model clients, tools) is closed at shutdown."""
    metrics = AgentMetrics.for_registry(own_registry())
    verifier = settings.task_verifier()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # LLM and tool call metrics go to this app's registry, next to the task metrics.
        own = executor or TaskExecutor(
            ExecutorMetrics.for_registry(metrics.registry), policy=settings.tool_policy()
        )
        runner = TaskRunner(settings, own, metrics)
        app.state.runner = runner
        # an agent outside the cluster registers once it listens (agent.server), so that the
        # gateway never pushes a task to a port not open yet
        membership = Membership(settings, runner) if settings.gateway is not None else None
        app.state.membership = membership
        try:
            yield
        finally:
            if membership is not None:
                await membership.stop()
            await runner.executor.aclose()
            await verifier.aclose()

    app = FastAPI(
        title="configurable-agents agent",
        summary="Executes node tasks for the workflow engine",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    errors.install(app)
    if settings.task_auth == "none":
        log.warning("task_auth is none: whoever reaches this agent's port may send it tasks")
    else:
        app.add_middleware(GatewayOnly, verifier=verifier)
    app.include_router(tasks.router)
    app.include_router(health.router)
    return app
