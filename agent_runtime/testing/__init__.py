"""Test kits: run a Workflow in your own tests (``agent_runtime.testing.runner``), and stand-ins
for outside services (``openai_server``, ``threaded``) started in-process.

    from agent_runtime.testing.runner import WorkflowRunner

    with WorkflowRunner("workflow.yaml", answers={"write": ["A brief."]}) as runner:
        result = runner.run(topic="leases")
    assert result.status == "succeeded" and result.nodes == ["research", "write"]

Each kit is its own module, imported by name, so a test that only needs a stand-in server does
not load the engine and LangGraph; this package names only what every kit shares.
"""

from agent_runtime.testing.result import RunResult

__all__ = ["RunResult"]
