"""The agent server: what an AgentPool pod runs (``configurable-agents agent``).

It serves ``POST /v1/tasks``, one node execution per request, with the same executors that
in-process runs use, and guards the pod: at most ``maxConcurrentTasks`` tasks at once (429 beyond,
never a queue), one execution per idempotency key (run, node, visit, attempt), a drain on SIGTERM
(not ready, new tasks refused, tasks in flight finished), health probes and Prometheus metrics.

    settings = AgentSettings(port=8080, capabilities=["llm"])
    run_agent(settings)            # blocks until SIGTERM/SIGINT and the drain are done
    app = create_app(settings)     # or mount the ASGI app yourself

The engine's side of the wire is ``agent_runtime.engine.remote.HttpDispatcher``.
"""

from agent_runtime.agent.app import create_app
from agent_runtime.agent.server import run_agent
from agent_runtime.agent.settings import AgentSettings

__all__ = ["AgentSettings", "create_app", "run_agent"]
