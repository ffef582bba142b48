"""Test kits: run a Workflow in your own tests (``WorkflowRunner``), and stand-ins for outside
services (``openai_server``, ``threaded``) started in-process.

    from agent_runtime.testing import WorkflowRunner

    with WorkflowRunner("workflow.yaml", answers={"write": ["A brief."]}) as runner:
        result = runner.run(topic="leases")
    assert result.status == "succeeded" and result.nodes == ["research", "write"]
"""

from agent_runtime.testing.result import RunResult
from agent_runtime.testing.runner import (
    AsyncWorkflowRunner,
    Decision,
    RunnerOptions,
    WorkflowRunner,
)

__all__ = ["AsyncWorkflowRunner", "Decision", "RunResult", "RunnerOptions", "WorkflowRunner"]
