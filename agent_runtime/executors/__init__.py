"""Node executors: what an agent does with one node task (an LLM call and its tool loop, a tool).

The same executors serve in-process runs and agent pods; the task and result models are the wire
format between the gateway and agents.
"""

from agent_runtime.executors.executor import TaskExecutor
from agent_runtime.executors.tasks import (
    AgentLost,
    Continuation,
    Decision,
    NoAgents,
    NodeTask,
    PermanentTaskError,
    TaskBudget,
    TaskError,
    TaskPause,
    TaskResult,
)

__all__ = [
    "AgentLost",
    "Continuation",
    "Decision",
    "NoAgents",
    "NodeTask",
    "PermanentTaskError",
    "TaskBudget",
    "TaskError",
    "TaskExecutor",
    "TaskPause",
    "TaskResult",
]
