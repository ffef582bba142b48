"""The tool policy of the CLI: runs on your own machine."""

from __future__ import annotations

from agent_runtime.cli.errors import Failure
from agent_runtime.policy import PolicyError, ToolPolicy, load_policy
from agent_runtime.policy.admission import tool_policy_problems
from agent_runtime.spec import SpecError, Workflow


def local_policy() -> ToolPolicy:
    """The ``local`` preset (any function, loopback allowed; metadata and private addresses
    refused), with ``CONFIGURABLE_AGENTS_POLICY_*`` over it (e.g. to check as a cluster would)."""
    try:
        return load_policy(default="local")
    except PolicyError as exc:
        raise Failure(f"platform tool policy: {exc}") from None


def check_tool_policy(workflow: Workflow, source: str) -> None:
    """The policy admits the Workflow's tools; else a SpecError (exit 2), one line per tool,
    before anything is stored or run."""
    problems = tool_policy_problems(workflow.spec, local_policy())
    if problems:
        raise SpecError(problems, source=source)
