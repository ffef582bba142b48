"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from agent_runtime.agent.runner import TaskRunner
from agent_runtime.telemetry.metrics import AgentMetrics


def _runner(request: Request) -> TaskRunner:
    runner: TaskRunner = request.app.state.runner
    return runner


def _metrics(request: Request) -> AgentMetrics:
    metrics: AgentMetrics = request.app.state.metrics
    return metrics


RunnerDep = Annotated[TaskRunner, Depends(_runner)]
MetricsDep = Annotated[AgentMetrics, Depends(_metrics)]
