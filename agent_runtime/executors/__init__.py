"""Node executors: what an agent does with one node task (an LLM call and its tool loop, a tool).

The same executors serve in-process runs and agent pods; the task and result models are the wire
format between the gateway and agents.
"""

from agent_runtime.executors.executor import TaskExecutor
from agent_runtime.executors.tasks import (
    TASK_STREAM_MEDIA_TYPE,
    AgentLost,
    Continuation,
    Decision,
    NoAgents,
    NodeTask,
    OnDelta,
    PermanentTaskError,
    TaskBudget,
    TaskDelta,
    TaskError,
    TaskNotStarted,
    TaskPause,
    TaskResult,
)

__all__ = [
    "TASK_STREAM_MEDIA_TYPE",
    "AgentLost",
    "Continuation",
    "Decision",
    "NoAgents",
    "NodeTask",
    "OnDelta",
    "PermanentTaskError",
    "TaskBudget",
    "TaskDelta",
    "TaskError",
    "TaskExecutor",
    "TaskNotStarted",
    "TaskPause",
    "TaskResult",
]
